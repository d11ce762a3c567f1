package translate

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
)

func loadOne(t *testing.T, compose string) (*PodPlan, error) {
	t.Helper()
	dir := writeProject(t, map[string]string{"compose.yaml": compose})
	return Load(context.Background(), LoadOptions{Files: []string{filepath.Join(dir, "compose.yaml")}, Environ: map[string]string{}})
}

// The logging field: file drivers with docker's size units, and none.
// (compose-go's schema refuses the legacy log_driver / log_opt in files.)
func TestLogging(t *testing.T) {
	tests := []struct {
		name, service string
		want          LogConfig
		warning       string
	}{
		{name: "unset: the defaults", service: "", want: LogConfig{}},
		{name: "json-file with bounds", service: "    logging:\n      driver: json-file\n      options:\n        max-size: 10m\n        max-file: \"3\"\n",
			want: LogConfig{MaxSize: 10 << 20, MaxFiles: 3}},
		{name: "local, size only", service: "    logging:\n      driver: local\n      options: {max-size: 1g}\n",
			want: LogConfig{MaxSize: 1 << 30}},
		{name: "options without a driver", service: "    logging:\n      options: {max-file: \"2\", max-size: 200k}\n",
			want: LogConfig{MaxSize: 200 << 10, MaxFiles: 2}},
		{name: "none", service: "    logging:\n      driver: none\n", want: LogConfig{Disabled: true}},
		{name: "other option warned", service: "    logging:\n      options: {compress: \"true\", max-file: \"4\"}\n",
			want: LogConfig{MaxFiles: 4}, warning: `field "logging.options.compress": ignored`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			plan, err := loadOne(t, "services:\n  web:\n    image: web:1\n"+tt.service)
			if err != nil {
				t.Fatal(err)
			}
			if got := plan.Services[0].Logging; got != tt.want {
				t.Errorf("logging = %+v, want %+v", got, tt.want)
			}
			warnings := strings.Join(plan.Warnings, "\n")
			if tt.warning != "" && !strings.Contains(warnings, tt.warning) {
				t.Errorf("warnings %q lack %q", warnings, tt.warning)
			}
			if tt.warning == "" && strings.Contains(warnings, "logging") {
				t.Errorf("unexpected warnings: %s", warnings)
			}
		})
	}
}

// Bad logging values are errors naming the service and the field.
func TestLoggingRejected(t *testing.T) {
	tests := []struct{ name, service, field, msg string }{
		{"bad size", "    logging:\n      options: {max-size: ten}\n", "logging.options.max-size", `"ten" is not a size`},
		{"zero size", "    logging:\n      options: {max-size: \"0\"}\n", "logging.options.max-size", "is not a size"},
		{"bad file count", "    logging:\n      options: {max-file: \"0\"}\n", "logging.options.max-file", "not a number of files"},
		{"other driver", "    logging:\n      driver: syslog\n", "logging.driver", `log driver "syslog" is not supported`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := loadOne(t, "services:\n  web:\n    image: web:1\n"+tt.service)
			errs := allErrors(err)
			if len(errs) != 1 {
				t.Fatalf("want one error, got %v", err)
			}
			e := errs[0]
			if e.Service != "web" || e.Field != tt.field || !strings.Contains(e.Msg, tt.msg) || !strings.HasSuffix(e.File, "compose.yaml") {
				t.Errorf("error %q: service %q field %q file %q; want field %q and %q", e.Error(), e.Service, e.Field, e.File, tt.field, tt.msg)
			}
		})
	}
}
