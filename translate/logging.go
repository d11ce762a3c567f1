package translate

import (
	"maps"
	"slices"
	"strconv"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/docker/go-units"
)

// LogConfig is where a service's output goes: one log file of the pod,
// rotated (see internal/logfile), or nowhere.
type LogConfig struct {
	// Disabled is logging.driver none: the output is dropped.
	Disabled bool `json:"disabled,omitempty"`
	// MaxSize (bytes) and MaxFiles bound the log file and its rotated
	// copies; 0 means compod's default (docker's local driver: 20 MiB, 5
	// files).
	MaxSize  int64 `json:"maxSize,omitempty"`
	MaxFiles int   `json:"maxFiles,omitempty"`
}

// logDrivers are the compose logging drivers compod accepts. json-file and
// local are docker's file drivers: compod's own file stands in for both.
var logDrivers = []string{"", "json-file", "local", "none"}

// logging translates compose logging (or the older log_driver / log_opt).
func (t *translator) logging(s *types.ServiceConfig) LogConfig {
	driver, opts := s.LogDriver, map[string]string(s.LogOpt)
	driverField, optField := "log_driver", "log_opt"
	if s.Logging != nil {
		if s.Logging.Driver != "" || driver == "" {
			driver, driverField = s.Logging.Driver, "logging.driver"
		}
		if len(s.Logging.Options) > 0 || len(opts) == 0 {
			opts, optField = s.Logging.Options, "logging.options"
		}
	}
	var c LogConfig
	if !slices.Contains(logDrivers, driver) {
		t.fail(s.Name, driverField, "log driver %q is not supported: compod writes the output to a file of the pod (json-file, local or unset) or drops it (none)", driver)
		return c
	}
	if driver == "none" {
		if len(opts) > 0 {
			t.warn(s.Name, optField, "ignored: the log driver is none")
		}
		return LogConfig{Disabled: true}
	}
	for _, k := range slices.Sorted(maps.Keys(opts)) {
		v, field := opts[k], optField+"."+k
		switch k {
		case "max-size":
			n, err := units.RAMInBytes(v)
			if err != nil || n <= 0 {
				t.fail(s.Name, field, "%q is not a size: use docker's units, e.g. 10m or 1g", v)
				continue
			}
			c.MaxSize = n
		case "max-file":
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 {
				t.fail(s.Name, field, "%q is not a number of files (1 or more)", v)
				continue
			}
			c.MaxFiles = n
		default:
			t.warn(s.Name, field, "ignored: compod honours max-size and max-file only")
		}
	}
	return c
}
