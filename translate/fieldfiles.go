package translate

// Which compose file a service's field comes from: errors raised after
// translation (pulling the image, publishing a port, starting the service)
// name it the way translate's own errors do, so a user with several
// compose files (an override, an include) knows which one to fix.

// fieldFiles sets spec.File to the first file that mentions the service
// and spec.FieldFiles to the keys that a later file set last (the merge
// took them from there).
func (x *fileIndex) fieldFiles(spec *ServiceSpec) {
	if x == nil || len(x.files) == 0 {
		return
	}
	spec.File = x.fileFor(spec.Name, "")
	for i := range x.files {
		for key := range x.services[i][spec.Name] {
			f := x.display(x.files[i])
			if f == spec.File {
				continue // the first file: no later file set it yet
			}
			if spec.FieldFiles == nil {
				spec.FieldFiles = map[string]string{}
			}
			spec.FieldFiles[key] = f
		}
	}
}

// FileOf is the compose file that set a field of the service (its
// top-level key: "ports" for "ports[0]"), else the file that defines the
// service; "" when the plan does not know (a plan from an older compod).
func (s *ServiceSpec) FileOf(field string) string {
	if f, ok := s.FieldFiles[fieldKey(field)]; ok {
		return f
	}
	return s.File
}
