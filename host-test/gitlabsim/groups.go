package gitlabsim

import (
	"fmt"
	"strings"
)

// Group is a GitLab group of the simulator. Values are snapshots.
type Group struct {
	// ID is the group's namespace ID.
	ID int64
	// Name is the display name (the simulator uses the path).
	Name string
	// Path is the last segment of FullPath.
	Path string
	// FullPath is the path from the top-level group, for example
	// "acme/mobile/ios".
	FullPath string
	// ParentID is the parent group's ID, 0 for a top-level group.
	ParentID int64
}

// namespace is a group or a user's personal namespace.
type namespace struct {
	ID       int64
	Name     string
	Path     string
	FullPath string
	Kind     string // "group" or "user"
	ParentID int64
	OwnerID  int64 // user namespaces only
}

// AddGroup adds a group, creating missing parent groups, so "acme/mobile/ios"
// also creates "acme" and "acme/mobile". Adding a group that exists returns
// it. It panics when the top-level path is a username (GitLab refuses the
// same), which is a mistake in the test that seeds it.
func (s *Server) AddGroup(fullPath string) *Group {
	s.mu.Lock()
	defer s.mu.Unlock()
	ns, err := s.addGroupLocked(fullPath)
	if err != nil {
		panic("gitlabsim: AddGroup: " + err.Error())
	}
	return groupSnapshot(ns)
}

func (s *Server) addGroupLocked(fullPath string) (*namespace, error) {
	fullPath = strings.Trim(fullPath, "/")
	if fullPath == "" {
		return nil, fmt.Errorf("empty group path")
	}
	var parent *namespace
	segments := strings.Split(fullPath, "/")
	for i, seg := range segments {
		if seg == "" {
			return nil, fmt.Errorf("group path %q has an empty segment", fullPath)
		}
		path := strings.Join(segments[:i+1], "/")
		if ns, ok := s.state.nsByPath[strings.ToLower(path)]; ok {
			if ns.Kind != "group" {
				return nil, fmt.Errorf("%q is a user's namespace, not a group", path)
			}
			parent = ns
			continue
		}
		ns := &namespace{
			ID:       s.state.nextNamespaceID,
			Name:     seg,
			Path:     seg,
			FullPath: path,
			Kind:     "group",
		}
		if parent != nil {
			ns.ParentID = parent.ID
		}
		s.state.nextNamespaceID++
		s.state.namespaces[ns.ID] = ns
		s.state.nsByPath[strings.ToLower(path)] = ns
		parent = ns
	}
	return parent, nil
}

// Group returns the group with that full path (case-insensitive).
func (s *Server) Group(fullPath string) (*Group, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	ns, ok := s.state.nsByPath[strings.ToLower(strings.Trim(fullPath, "/"))]
	if !ok || ns.Kind != "group" {
		return nil, false
	}
	return groupSnapshot(ns), true
}

func groupSnapshot(ns *namespace) *Group {
	return &Group{ID: ns.ID, Name: ns.Name, Path: ns.Path, FullPath: ns.FullPath, ParentID: ns.ParentID}
}

// humanNameLocked is GitLab's "Parent / Child" name of a namespace.
func (s *Server) humanNameLocked(ns *namespace) string {
	names := []string{ns.Name}
	for p := ns.ParentID; p != 0; {
		parent := s.state.namespaces[p]
		names = append([]string{parent.Name}, names...)
		p = parent.ParentID
	}
	return strings.Join(names, " / ")
}

// namespaceJSON is the namespace object of a project.
type namespaceJSON struct {
	ID        int64   `json:"id"`
	Name      string  `json:"name"`
	Path      string  `json:"path"`
	Kind      string  `json:"kind"`
	FullPath  string  `json:"full_path"`
	ParentID  *int64  `json:"parent_id"`
	AvatarURL *string `json:"avatar_url"`
	WebURL    string  `json:"web_url"`
}

func (s *Server) namespaceJSONLocked(ns *namespace) namespaceJSON {
	j := namespaceJSON{
		ID:       ns.ID,
		Name:     ns.Name,
		Path:     ns.Path,
		Kind:     ns.Kind,
		FullPath: ns.FullPath,
	}
	if ns.ParentID != 0 {
		parent := ns.ParentID
		j.ParentID = &parent
	}
	if ns.Kind == "user" {
		j.WebURL = s.BaseURL() + "/" + ns.FullPath
		if u, ok := s.state.users[ns.OwnerID]; ok {
			a := avatarURL(u.Email)
			j.AvatarURL = &a
		}
	} else {
		j.WebURL = s.BaseURL() + "/groups/" + ns.FullPath
	}
	return j
}
