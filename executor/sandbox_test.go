package executor

import "regexp"

var podNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]*$`)
