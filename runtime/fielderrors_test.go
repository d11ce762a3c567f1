package runtime

import (
	"errors"
	"fmt"
	"io/fs"
	"testing"

	"github.com/compod/compod/translate"
)

func TestLocateFieldError(t *testing.T) {
	plan := &translate.PodPlan{Services: []translate.ServiceSpec{
		{Name: "web", File: "compose.yaml", FieldFiles: map[string]string{"image": "compose.override.yaml"}},
		{Name: "db"}, // a plan of an older compod: no files
	}}
	base := fs.ErrNotExist
	for _, c := range []struct {
		err  error
		want string
	}{
		// The field a later file set: that file.
		{fmt.Errorf(`service "web": field "image": pulling x: %w`, base), `compose.override.yaml: service "web": field "image": pulling x: file does not exist`},
		// Wrapped: the file goes right before the service.
		{fmt.Errorf(`pod "p": service "web": field "ports[0]": taken: %w`, base), `pod "p": compose.yaml: service "web": field "ports[0]": taken: file does not exist`},
		// Already named; unknown service; no file known; no field named.
		{errors.New(`compose.yaml: service "web": field "user": no such user`), `compose.yaml: service "web": field "user": no such user`},
		{errors.New(`service "ghost": field "image": x`), `service "ghost": field "image": x`},
		{errors.New(`service "db": field "image": x`), `service "db": field "image": x`},
		{errors.New(`creating pod directory: denied`), `creating pod directory: denied`},
	} {
		got := locateFieldError(plan, c.err)
		if got.Error() != c.want {
			t.Errorf("%q:\n got  %q\n want %q", c.err, got, c.want)
		}
		if errors.Is(c.err, base) && !errors.Is(got, base) {
			t.Errorf("%q: the located error lost its chain", c.err)
		}
		if again := locateFieldError(plan, got); again.Error() != got.Error() {
			t.Errorf("located twice: %q", again)
		}
	}
	if locateFieldError(plan, nil) != nil {
		t.Error("nil error located into an error")
	}
}
