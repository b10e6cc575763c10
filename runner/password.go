package runner

import (
	"errors"
	"fmt"
	"strings"
	"sync"

	"golang.org/x/crypto/ssh"

	"github.com/dtools/dt/output"
)

// Asker asks the person at the terminal something a login needs: a
// password, or a keyboard-interactive question (echo says whether the
// answer may be shown as typed). It fails when there is no terminal.
type Asker func(prompt string, echo bool) ([]byte, error)

// askMu serialises questions: one on the terminal at a time.
var askMu sync.Mutex

// maxAskRounds bounds the keyboard-interactive rounds answered for one
// host: a server that keeps asking gets no more answers.
const maxAskRounds = 4

// askedSecrets answers password and keyboard-interactive authentication
// for one dial, asking the person at most once for the password: a
// server that offers both methods, or asks again after a wrong answer,
// gets the answer already typed, never a second prompt.
type askedSecrets struct {
	ask    Asker
	target *Target

	password []byte // typed once, kept for this dial only
	asked    bool   // the password prompt was shown
	rounds   int
	err      error // why asking failed, for the auth error
}

// AskError is why a login could not ask the person for a password.
type AskError struct{ Err error }

func (e *AskError) Error() string { return "could not ask for a password: " + e.Err.Error() }
func (e *AskError) Unwrap() error { return e.Err }

// methods returns the auth methods, after public keys: keyboard-
// interactive first, then password, as OpenSSH tries them.
func (a *askedSecrets) methods() []ssh.AuthMethod {
	return []ssh.AuthMethod{ssh.KeyboardInteractive(a.challenge), ssh.PasswordCallback(a.passwordAnswer)}
}

// secret asks for the password the first time and returns the same
// answer after that.
func (a *askedSecrets) secret(prompt string) ([]byte, error) {
	if a.asked {
		if a.password == nil {
			return nil, a.err
		}
		return a.password, nil
	}
	a.asked = true
	askMu.Lock()
	pw, err := a.ask(prompt, false)
	askMu.Unlock()
	if err != nil {
		a.err = &AskError{Err: err}
		return nil, a.err
	}
	a.password = pw
	return pw, nil
}

func (a *askedSecrets) passwordAnswer() (string, error) {
	pw, err := a.secret(fmt.Sprintf("dt: password for %s@%s (%s): ", a.target.User, a.target.Addr(), a.target.Name))
	return string(pw), err
}

// challenge answers a keyboard-interactive round. A single question the
// server wants hidden is taken for the password; anything else (a code,
// a question shown as typed) is asked as the server words it, prefixed
// with the host's name, its text escaped so that the server cannot drive
// the terminal.
func (a *askedSecrets) challenge(name, instruction string, questions []string, echos []bool) ([]string, error) {
	if len(questions) == 0 {
		return nil, nil // an empty round: nothing to ask
	}
	a.rounds++
	if a.rounds > maxAskRounds {
		return nil, &AskError{Err: fmt.Errorf("the server asked %d rounds of questions; not answering more", maxAskRounds)}
	}
	if len(questions) == 1 && !echos[0] {
		pw, err := a.secret(fmt.Sprintf("dt: %s: %s", a.target.Name, cleanPrompt(questions[0], "Password: ")))
		if err != nil {
			return nil, err
		}
		return []string{string(pw)}, nil
	}
	answers := make([]string, len(questions))
	askMu.Lock()
	defer askMu.Unlock()
	head := strings.TrimSpace(cleanPrompt(name, "") + " " + cleanPrompt(instruction, ""))
	for i, q := range questions {
		prompt := fmt.Sprintf("dt: %s: %s", a.target.Name, cleanPrompt(q, "? "))
		if i == 0 && head != "" {
			prompt = fmt.Sprintf("dt: %s: %s\n%s", a.target.Name, head, prompt)
		}
		ans, err := a.ask(prompt, echos[i])
		if err != nil {
			return nil, &AskError{Err: err}
		}
		answers[i] = string(ans)
		clear(ans)
	}
	return answers, nil
}

// cleanPrompt escapes control bytes in a server's text (see
// output.Escape) and gives an empty one a default.
func cleanPrompt(s, def string) string {
	s = output.Escape([]byte(strings.TrimRight(s, "\r\n")))
	if strings.TrimSpace(s) == "" {
		return def
	}
	if !strings.HasSuffix(s, " ") {
		s += " "
	}
	return s
}

// notes say what was asked, for the auth error of a login that failed.
func (a *askedSecrets) notes() []string {
	switch {
	case a.err != nil:
		return []string{a.err.Error()}
	case a.asked:
		return []string{"the password typed was refused"}
	}
	return nil
}

// clear forgets the password.
func (a *askedSecrets) clear() {
	clear(a.password)
	a.password = nil
}

// isAskError reports whether err comes from failing to ask.
func isAskError(err error) bool {
	var ae *AskError
	return errors.As(err, &ae)
}
