package runtime

import (
	"errors"
	"regexp"
	"strings"

	"github.com/compod/compod/translate"
)

// Errors the runtime raises about a service's field (the image cannot be
// pulled, a host port is taken, the user does not exist in the image, the
// command cannot start) say `service "S": field "F": ...`, as translate's
// do; translate's also name the compose file first. locateFieldError puts
// that file in front of the runtime's too, from the plan
// (ServiceSpec.FileOf), so a user with an override or an included file
// knows which file to fix. The errors keep their chain (errors.Is/As).

var serviceFieldRef = regexp.MustCompile(`service "([^"]+)": field "([^"]+)"`)

// locatedError is an error with the compose file named in its message.
type locatedError struct {
	msg string
	err error
}

func (e *locatedError) Error() string { return e.msg }
func (e *locatedError) Unwrap() error { return e.err }

// locateFieldError names, in err's message, the compose file that set the
// first service field the message names; err is returned as it is when
// the message names no field, the plan does not know the file, or the
// file is named already.
func locateFieldError(plan *translate.PodPlan, err error) error {
	if err == nil || plan == nil {
		return err
	}
	var le *locatedError
	if errors.As(err, &le) {
		return err
	}
	msg := err.Error()
	m := serviceFieldRef.FindStringSubmatchIndex(msg)
	if m == nil {
		return err
	}
	svc, ok := plan.Service(msg[m[2]:m[3]])
	if !ok {
		return err
	}
	file := svc.FileOf(msg[m[4]:m[5]])
	if file == "" || strings.HasSuffix(msg[:m[0]], file+": ") {
		return err
	}
	return &locatedError{msg: msg[:m[0]] + file + ": " + msg[m[0]:], err: err}
}
