package output_test

import (
	"fmt"
	"os"

	"github.com/dtools/dt/output"
)

func ExampleFormatLine() {
	fmt.Print(output.FormatLine(output.Record{
		Status:  output.Okay,
		Module:  "ssh",
		Host:    "myhostlinux1.domain",
		Message: []byte("Mon Nov 16 23:54:04 CET 2009\n"),
	}))
	fmt.Print(output.FormatLine(output.Record{
		Status:   output.Fail,
		Module:   "ssh",
		Host:     "web2",
		Stage:    output.StageExit,
		ExitCode: 1,
		Message:  []byte("grep: /etc/foo: No such file or directory\n"),
	}))
	fmt.Print(output.FormatLine(output.Record{
		Status:   output.Fail,
		Module:   "ssh",
		Host:     "127.0.0.3",
		Stage:    output.StageConnect,
		ExitCode: -1,
		Message:  []byte("dial tcp 127.0.0.3:22: connect: connection refused"),
	}))
	fmt.Print(output.FormatLine(output.Record{
		Status:  output.Okay,
		Module:  "ssh",
		Host:    "::1",
		Message: []byte("line one\nline two\n"),
	}))
	// Output:
	// okay::dt:ssh:myhostlinux1.domain:Mon Nov 16 23:54:04 CET 2009
	// fail::dt:ssh:web2:exit 1: grep: /etc/foo: No such file or directory
	// fail::dt:ssh:127.0.0.3:connect: dial tcp 127.0.0.3:22: connect: connection refused
	// okay::dt:ssh:[::1]:line one\nline two
}

func ExampleParse() {
	r, err := output.Parse(`okay::dt:ssh:[::1]:line one\nline two` + "\n")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("status=%s module=%s host=%s exit=%d\n", r.Status, r.Module, r.Host, r.ExitCode)
	fmt.Printf("message=%q\n", r.Message)

	_, err = output.Parse("okay::xx:ssh:web1:up")
	fmt.Println(err)
	// Output:
	// status=okay module=ssh host=::1 exit=-1
	// message="line one\nline two"
	// parse omni line "okay::xx:ssh:web1:up": missing "dt" tag
}

func ExampleNewOmni() {
	w := output.NewOmni(os.Stdout, output.ColorWanted(os.Stdout, true, nil))
	_ = w.Write(output.Record{Status: output.Okay, Module: "ssh", Host: "web1", Message: []byte("up 3 days\n")})
	// Output:
	// okay::dt:ssh:web1:up 3 days
}

func ExampleEscape() {
	fmt.Println(output.Escape([]byte("a:b\tc\r\n\x1b[0m\\ café")))
	// Output:
	// a:b	c\r\n\x1b[0m\\ café
}
