// Package ec2replay is a local stand-in for the EC2 API, for tests of the
// ec2: pattern: an HTTP server on 127.0.0.1 that answers DescribeInstances
// with responses kept in testdata/, in the API's XML wire format, page by
// page (page1.xml, then page2.xml for its nextToken, then page3.xml).
// They are the answer to a query for tag:role=web, whatever filter the
// request carries (tests check the filters sent through Requests): five
// instances web-1..web-5, of which web-2 is stopped (EC2 would not return
// it under the running filter; the recording does, to check it is left
// out), web-3 has no public address and web-5 a public IP but no public
// DNS name. They are written in the API's XML wire format by hand, after
// the documented responses; no AWS account was used. Point the
// AWS SDK at it with AWS_ENDPOINT_URL_EC2=Server.URL.
//
// It checks what the SDK sends: a SigV4-signed POST for the ec2 service,
// Action=DescribeInstances, the instance-state-name=running filter, and a
// NextToken it handed out. It answers as EC2 does for a bad access key
// (access key id BadAccessKeyID: AuthFailure, 401) and for an unknown
// filter name ("colour": InvalidParameterValue, 400).
package ec2replay

import (
	"embed"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"

	"sync"
)

//go:embed testdata/*.xml
var recorded embed.FS

// BadAccessKeyID is refused with AuthFailure.
const BadAccessKeyID = "AKIDREPLAYBAD0000000"

// pages maps a request's NextToken to the recorded page answering it.
var pages = map[string]string{
	"":                             "page1.xml",
	"eyJ2IjoiMiIsImMiOiJwYWdlMiJ9": "page2.xml",
	"eyJ2IjoiMiIsImMiOiJwYWdlMyJ9": "page3.xml",
}

// Request is what one DescribeInstances call asked.
type Request struct {
	Filters   map[string][]string // filter name -> values
	NextToken string
	AccessKey string
	Region    string
}

// Server is a running replay server.
type Server struct {
	URL string

	srv  *httptest.Server
	mu   sync.Mutex
	reqs []Request
	errs []string
}

var credRE = regexp.MustCompile(`^AWS4-HMAC-SHA256 Credential=([^/]+)/\d{8}/([^/]+)/ec2/aws4_request, SignedHeaders=\S+, Signature=[0-9a-f]{64}$`)

// Start starts a server on 127.0.0.1.
func Start() *Server {
	s := &Server{}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	s.URL = s.srv.URL
	return s
}

// Close stops the server.
func (s *Server) Close() { s.srv.Close() }

// Requests returns the DescribeInstances calls answered so far.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.reqs)
}

// Errors returns what was wrong with the requests refused as malformed.
func (s *Server) Errors() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.errs)
}

func (s *Server) bad(w http.ResponseWriter, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	s.mu.Lock()
	s.errs = append(s.errs, msg)
	s.mu.Unlock()
	http.Error(w, msg, http.StatusBadRequest)
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		s.bad(w, "method %s, want POST", r.Method)
		return
	}
	m := credRE.FindStringSubmatch(r.Header.Get("Authorization"))
	if m == nil {
		s.bad(w, "not signed with SigV4 for ec2: %q", r.Header.Get("Authorization"))
		return
	}
	if err := r.ParseForm(); err != nil {
		s.bad(w, "form: %v", err)
		return
	}
	if a := r.PostForm.Get("Action"); a != "DescribeInstances" {
		s.bad(w, "Action %q", a)
		return
	}
	if r.PostForm.Get("Version") == "" {
		s.bad(w, "no Version")
		return
	}
	req := Request{Filters: map[string][]string{}, NextToken: r.PostForm.Get("NextToken"), AccessKey: m[1], Region: m[2]}
	for i := 1; ; i++ {
		name := r.PostForm.Get(fmt.Sprintf("Filter.%d.Name", i))
		if name == "" {
			break
		}
		for j := 1; ; j++ {
			v, ok := r.PostForm[fmt.Sprintf("Filter.%d.Value.%d", i, j)]
			if !ok {
				break
			}
			req.Filters[name] = append(req.Filters[name], v...)
		}
	}
	s.mu.Lock()
	s.reqs = append(s.reqs, req)
	s.mu.Unlock()

	if req.AccessKey == BadAccessKeyID {
		s.answer(w, http.StatusUnauthorized, "auth-failure.xml")
		return
	}
	if _, ok := req.Filters["colour"]; ok {
		s.answer(w, http.StatusBadRequest, "invalid-filter.xml")
		return
	}
	if !slices.Equal(req.Filters["instance-state-name"], []string{"running"}) {
		s.bad(w, "no instance-state-name=running filter: %v", req.Filters)
		return
	}
	page, ok := pages[req.NextToken]
	if !ok {
		s.bad(w, "unknown NextToken %q", req.NextToken)
		return
	}
	s.answer(w, http.StatusOK, page)
}

func (s *Server) answer(w http.ResponseWriter, status int, file string) {
	data, err := recorded.ReadFile("testdata/" + file)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/xml;charset=UTF-8")
	w.WriteHeader(status)
	w.Write(data)
}

// Env returns the environment that points the AWS SDK at s with
// credentials accessKey (a fixed secret) and region eu-west-1, and keeps
// it from reading the user's AWS files or the instance metadata service.
func (s *Server) Env(accessKey string) []string {
	return []string{
		"AWS_ENDPOINT_URL_EC2=" + s.URL,
		"AWS_ACCESS_KEY_ID=" + accessKey,
		"AWS_SECRET_ACCESS_KEY=replay-secret-not-a-real-one",
		"AWS_REGION=eu-west-1",
		"AWS_EC2_METADATA_DISABLED=true",
		"AWS_CONFIG_FILE=/nonexistent/dt-ec2replay/config",
		"AWS_SHARED_CREDENTIALS_FILE=/nonexistent/dt-ec2replay/credentials",
		"AWS_RETRY_MODE=standard",
		"AWS_MAX_ATTEMPTS=1",
	}
}
