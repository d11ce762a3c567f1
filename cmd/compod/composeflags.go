package main

import (
	"errors"

	"github.com/spf13/pflag"

	"github.com/compod/compod/translate"
)

// composeFlags are the flags that name and load a pod's compose files,
// the same for up, config and validate (as docker compose's are).
type composeFlags struct {
	files, envFiles, profiles []string
	project                   string
}

func (c *composeFlags) add(f *pflag.FlagSet) {
	f.StringArrayVarP(&c.files, "file", "f", nil, "compose file (repeatable; default: compose.yaml or docker-compose.yml here, with its override file)")
	f.StringVarP(&c.project, "project-name", "p", "", "pod (project) name (default: COMPOSE_PROJECT_NAME, the files' name: field, or the project directory's name)")
	f.StringArrayVar(&c.envFiles, "env-file", nil, "env file for interpolation (repeatable; default: .env next to the first compose file)")
	f.StringArrayVar(&c.profiles, "profile", nil, "compose profile to enable (repeatable; default: COMPOSE_PROFILES)")
}

// loadOptions are translate's options for these flags; without -f, the
// compose files of the current directory.
func (c *composeFlags) loadOptions() (translate.LoadOptions, error) {
	files := c.files
	if len(files) == 0 {
		if files = defaultComposeFiles(); len(files) == 0 {
			return translate.LoadOptions{}, errors.New("no compose file: give -f FILE (compose.yaml and docker-compose.yml were not found here)")
		}
	}
	return translate.LoadOptions{Files: files, ProjectName: c.project, EnvFiles: c.envFiles, Profiles: c.profiles}, nil
}
