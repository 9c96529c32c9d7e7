package gitlabsim

import (
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// GitLab's access levels (client-go's AccessLevelValue).
const (
	GuestAccess      = 10
	PlannerAccess    = 15
	ReporterAccess   = 20
	DeveloperAccess  = 30
	MaintainerAccess = 40
	OwnerAccess      = 50
)

// ProjectSpec describes a project to add with [Server.AddProject].
type ProjectSpec struct {
	// Namespace is a username (the user's personal namespace) or a group's
	// full path; missing groups are created, nested ones included.
	Namespace string
	// Path is the project's path inside the namespace. Required.
	Path string
	// Name is the display name; empty means Path.
	Name string
	// Description is the project description.
	Description string
	// Visibility is "private" (the default), "internal" or "public".
	Visibility string
	// Archived marks the project archived.
	Archived bool
	// DefaultBranch is the default branch; empty means "main".
	DefaultBranch string
	// Members maps user IDs to access levels (10, 15, 20, 30, 40, 50). The
	// owner of a personal namespace is always an Owner (50).
	Members map[int64]int
	// CreatorID is the user who created the project; zero means the
	// namespace's owner, else the member with the highest level, else root.
	CreatorID int64
}

// Project is a project of the simulator. Values are snapshots.
type Project struct {
	// ID is the project's numeric ID (the first project is 1001).
	ID int64
	// Name is the display name.
	Name string
	// Path is the last segment of PathWithNamespace.
	Path string
	// Description is the project description.
	Description string
	// PathWithNamespace is the full path, for example "acme/mobile/app".
	PathWithNamespace string
	// NameWithNamespace is GitLab's "acme / mobile / App".
	NameWithNamespace string
	// NamespaceID is the group's or user namespace's ID.
	NamespaceID int64
	// Visibility is "private", "internal" or "public".
	Visibility string
	// Archived is true for an archived project.
	Archived bool
	// DefaultBranch is the default branch.
	DefaultBranch string
	// WebURL is BaseURL + "/" + PathWithNamespace.
	WebURL string
	// HTTPURLToRepo is the clone URL, BaseURL + "/" + PathWithNamespace + ".git".
	HTTPURLToRepo string
	// SSHURLToRepo is the SSH clone URL (not served by the simulator).
	SSHURLToRepo string
	// CreatorID is the user who created the project.
	CreatorID int64
	// CreatedAt is when the project was added.
	CreatedAt time.Time
	// LastActivityAt is the time of the last commit the simulator made.
	LastActivityAt time.Time
	// Members maps user IDs to their access levels.
	Members map[int64]int
}

type project struct {
	id             int64
	name           string
	path           string
	description    string
	ns             *namespace
	fullPath       string
	visibility     string
	archived       bool
	defaultBranch  string
	creatorID      int64
	createdAt      time.Time
	updatedAt      time.Time
	lastActivityAt time.Time
	members        map[int64]int
	repo           *repository
}

func visibilityLevel(v string) int {
	switch v {
	case "public":
		return 20
	case "internal":
		return 10
	}
	return 0
}

// AddProject adds a project and returns it. Its git repository is created
// on first use. It panics on a duplicate path, a missing Path or an unknown
// visibility, which are mistakes in the test that seeds it.
func (s *Server) AddProject(spec ProjectSpec) *Project {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, err := s.addProjectLocked(spec)
	if err != nil {
		panic("gitlabsim: AddProject: " + err.Error())
	}
	return s.projectSnapshotLocked(p)
}

func (s *Server) addProjectLocked(spec ProjectSpec) (*project, error) {
	if spec.Path == "" || strings.Contains(spec.Path, "/") {
		return nil, fmt.Errorf("invalid project path %q", spec.Path)
	}
	switch spec.Visibility {
	case "":
		spec.Visibility = "private"
	case "private", "internal", "public":
	default:
		return nil, fmt.Errorf("unknown visibility %q", spec.Visibility)
	}
	nsPath := strings.Trim(spec.Namespace, "/")
	ns, ok := s.state.nsByPath[strings.ToLower(nsPath)]
	if !ok {
		var err error
		if ns, err = s.addGroupLocked(nsPath); err != nil {
			return nil, err
		}
	}
	fullPath := ns.FullPath + "/" + spec.Path
	if _, dup := s.state.projectByPath[strings.ToLower(fullPath)]; dup {
		return nil, fmt.Errorf("project %q exists", fullPath)
	}
	members := maps.Clone(spec.Members)
	if members == nil {
		members = map[int64]int{}
	}
	for uid := range members {
		if _, ok := s.state.users[uid]; !ok {
			return nil, fmt.Errorf("member %d is not a user", uid)
		}
	}
	if ns.Kind == "user" {
		members[ns.OwnerID] = OwnerAccess
	}
	creator := spec.CreatorID
	if creator == 0 {
		creator = ns.OwnerID
	}
	if creator == 0 {
		best := 0
		for _, uid := range slices.Sorted(maps.Keys(members)) {
			if members[uid] > best {
				creator, best = uid, members[uid]
			}
		}
	}
	if creator == 0 {
		creator = 1
	}
	name := spec.Name
	if name == "" {
		name = spec.Path
	}
	branch := spec.DefaultBranch
	if branch == "" {
		branch = "main"
	}
	now := s.nowLocked()
	p := &project{
		id:             s.state.nextProjectID,
		name:           name,
		path:           spec.Path,
		description:    spec.Description,
		ns:             ns,
		fullPath:       fullPath,
		visibility:     spec.Visibility,
		archived:       spec.Archived,
		defaultBranch:  branch,
		creatorID:      creator,
		createdAt:      now,
		updatedAt:      now,
		lastActivityAt: now,
		members:        members,
		repo:           &repository{},
	}
	s.state.nextProjectID++
	s.state.projects = append(s.state.projects, p)
	s.state.projectByID[p.id] = p
	s.state.projectByPath[strings.ToLower(fullPath)] = p
	for uid := range members {
		s.state.memberProjects[uid] = append(s.state.memberProjects[uid], p)
	}
	return p, nil
}

// SeedProjects adds n private projects named "bulk-<n>" in namespace (a
// group path, or "" for the owner's personal namespace) with ownerID as
// Owner, and returns their IDs. It is cheap enough for tens of thousands of
// projects: no git repository is created until one is used.
func (s *Server) SeedProjects(ownerID int64, n int, namespace string) []int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	owner, ok := s.state.users[ownerID]
	if !ok {
		panic(fmt.Sprintf("gitlabsim: SeedProjects: no user %d", ownerID))
	}
	if namespace == "" {
		namespace = owner.Username
	}
	ids := make([]int64, 0, n)
	for i := 0; i < n; i++ {
		path := "bulk-" + strconv.FormatInt(s.state.nextProjectID, 10)
		p, err := s.addProjectLocked(ProjectSpec{
			Namespace: namespace,
			Path:      path,
			Members:   map[int64]int{ownerID: OwnerAccess},
			CreatorID: ownerID,
		})
		if err != nil {
			panic("gitlabsim: SeedProjects: " + err.Error())
		}
		ids = append(ids, p.id)
	}
	return ids
}

// AddMember gives a user an access level on a project (or changes it).
func (s *Server) AddMember(projectID, userID int64, accessLevel int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.state.projectByID[projectID]
	if !ok {
		return fmt.Errorf("add member: no project %d", projectID)
	}
	if _, ok := s.state.users[userID]; !ok {
		return fmt.Errorf("add member: no user %d", userID)
	}
	if _, already := p.members[userID]; !already {
		list := s.state.memberProjects[userID]
		i := sort.Search(len(list), func(i int) bool { return list[i].id >= p.id })
		s.state.memberProjects[userID] = slices.Insert(list, i, p)
	}
	p.members[userID] = accessLevel
	return nil
}

// RemoveMember takes a user's membership of a project away.
func (s *Server) RemoveMember(projectID, userID int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.state.projectByID[projectID]
	if !ok {
		return fmt.Errorf("remove member: no project %d", projectID)
	}
	delete(p.members, userID)
	s.state.memberProjects[userID] = slices.DeleteFunc(s.state.memberProjects[userID],
		func(q *project) bool { return q == p })
	return nil
}

// SetArchived archives or unarchives a project.
func (s *Server) SetArchived(projectID int64, archived bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.state.projectByID[projectID]
	if !ok {
		return fmt.Errorf("set archived: no project %d", projectID)
	}
	p.archived = archived
	p.updatedAt = s.nowLocked()
	return nil
}

// DeleteProject removes a project, its hooks and its statuses.
func (s *Server) DeleteProject(projectID int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.state.projectByID[projectID]
	if !ok {
		return fmt.Errorf("delete project: no project %d", projectID)
	}
	i := sort.Search(len(s.state.projects), func(i int) bool { return s.state.projects[i].id >= projectID })
	s.state.projects = slices.Delete(s.state.projects, i, i+1)
	delete(s.state.projectByID, projectID)
	delete(s.state.projectByPath, strings.ToLower(p.fullPath))
	for uid := range p.members {
		s.state.memberProjects[uid] = slices.DeleteFunc(s.state.memberProjects[uid],
			func(q *project) bool { return q == p })
	}
	delete(s.state.hooks, projectID)
	delete(s.state.statuses, projectID)
	delete(s.state.pipes, projectID)
	return nil
}

// Project returns the project with that ID.
func (s *Server) Project(id int64) (*Project, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	p, ok := s.state.projectByID[id]
	if !ok {
		return nil, false
	}
	return s.projectSnapshotLocked(p), true
}

// ProjectByPath returns the project with that full path (case-insensitive).
func (s *Server) ProjectByPath(fullPath string) (*Project, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	p, ok := s.state.projectByPath[strings.ToLower(strings.Trim(fullPath, "/"))]
	if !ok {
		return nil, false
	}
	return s.projectSnapshotLocked(p), true
}

func (s *Server) projectSnapshotLocked(p *project) *Project {
	return &Project{
		ID:                p.id,
		Name:              p.name,
		Path:              p.path,
		Description:       p.description,
		PathWithNamespace: p.fullPath,
		NameWithNamespace: s.humanNameLocked(p.ns) + " / " + p.name,
		NamespaceID:       p.ns.ID,
		Visibility:        p.visibility,
		Archived:          p.archived,
		DefaultBranch:     p.defaultBranch,
		WebURL:            s.BaseURL() + "/" + p.fullPath,
		HTTPURLToRepo:     s.BaseURL() + "/" + p.fullPath + ".git",
		SSHURLToRepo:      s.sshURL(p),
		CreatorID:         p.creatorID,
		CreatedAt:         p.createdAt,
		LastActivityAt:    p.lastActivityAt,
		Members:           maps.Clone(p.members),
	}
}

func (s *Server) sshURL(p *project) string {
	host := "localhost"
	if u, err := url.Parse(s.BaseURL()); err == nil && u.Hostname() != "" {
		host = u.Hostname()
	}
	return "git@" + host + ":" + p.fullPath + ".git"
}

// findProjectLocked resolves ":id", a numeric ID or a full path.
func (s *Server) findProjectLocked(idOrPath string) *project {
	if id, err := strconv.ParseInt(idOrPath, 10, 64); err == nil {
		return s.state.projectByID[id]
	}
	return s.state.projectByPath[strings.ToLower(idOrPath)]
}

// accessLevelLocked is the user's level on the project; admins count as
// Owners, non-members as 0.
func (s *Server) accessLevelLocked(p *project, userID int64) int {
	if lvl, ok := p.members[userID]; ok {
		return lvl
	}
	if u, ok := s.state.users[userID]; ok && u.IsAdmin {
		return OwnerAccess
	}
	return 0
}

// canSeeLocked applies GitLab's visibility rules: public for everyone,
// internal for every signed-in user, private for members and admins.
func (s *Server) canSeeLocked(p *project, userID int64) bool {
	switch p.visibility {
	case "public":
		return true
	case "internal":
		return userID != 0
	}
	return s.accessLevelLocked(p, userID) > 0
}

// projectForRequest resolves the {id} of an API path for a principal,
// answering 404 when the project does not exist or is invisible to them.
// s.mu must be held.
func (s *Server) projectForRequestLocked(w http.ResponseWriter, r *http.Request, p principal) *project {
	proj := s.findProjectLocked(r.PathValue("id"))
	if proj == nil || !s.canSeeLocked(proj, p.userID) {
		apiMessage(w, http.StatusNotFound, "404 Project Not Found")
		return nil
	}
	return proj
}

// handleGetProject serves GET /api/v4/projects/:id.
func (s *Server) handleGetProject(w http.ResponseWriter, r *http.Request) {
	p, ok := s.authenticate(w, r, false)
	if !ok {
		return
	}
	if !p.anonymous() && !s.requireAPIScope(w, r, p) {
		return
	}
	s.mu.RLock()
	proj := s.projectForRequestLocked(w, r, p)
	var body projectJSON
	if proj != nil {
		body = s.projectJSONLocked(proj, p.userID)
	}
	s.mu.RUnlock()
	if proj != nil {
		writeJSON(w, http.StatusOK, body)
	}
}

// simpleProjectJSON is GitLab's BasicProjectDetails (simple=true).
type simpleProjectJSON struct {
	ID                int64         `json:"id"`
	Description       *string       `json:"description"`
	Name              string        `json:"name"`
	NameWithNamespace string        `json:"name_with_namespace"`
	Path              string        `json:"path"`
	PathWithNamespace string        `json:"path_with_namespace"`
	CreatedAt         string        `json:"created_at"`
	DefaultBranch     string        `json:"default_branch"`
	TagList           []string      `json:"tag_list"`
	Topics            []string      `json:"topics"`
	SSHURLToRepo      string        `json:"ssh_url_to_repo"`
	HTTPURLToRepo     string        `json:"http_url_to_repo"`
	WebURL            string        `json:"web_url"`
	ReadmeURL         *string       `json:"readme_url"`
	ForksCount        int           `json:"forks_count"`
	AvatarURL         *string       `json:"avatar_url"`
	StarCount         int           `json:"star_count"`
	LastActivityAt    string        `json:"last_activity_at"`
	Namespace         namespaceJSON `json:"namespace"`
}

// projectJSON is the full project entity, following drone-go-scm's
// api/repos.json plus the fields newer GitLab versions add.
type projectJSON struct {
	simpleProjectJSON
	Links                                    map[string]string `json:"_links"`
	PackagesEnabled                          bool              `json:"packages_enabled"`
	EmptyRepo                                bool              `json:"empty_repo"`
	Archived                                 bool              `json:"archived"`
	Visibility                               string            `json:"visibility"`
	Owner                                    map[string]any    `json:"owner,omitempty"`
	ResolveOutdatedDiffDiscussions           bool              `json:"resolve_outdated_diff_discussions"`
	ContainerRegistryEnabled                 bool              `json:"container_registry_enabled"`
	IssuesEnabled                            bool              `json:"issues_enabled"`
	MergeRequestsEnabled                     bool              `json:"merge_requests_enabled"`
	WikiEnabled                              bool              `json:"wiki_enabled"`
	JobsEnabled                              bool              `json:"jobs_enabled"`
	SnippetsEnabled                          bool              `json:"snippets_enabled"`
	SharedRunnersEnabled                     bool              `json:"shared_runners_enabled"`
	LFSEnabled                               bool              `json:"lfs_enabled"`
	CreatorID                                int64             `json:"creator_id"`
	ImportStatus                             string            `json:"import_status"`
	OpenIssuesCount                          int               `json:"open_issues_count"`
	CIConfigPath                             *string           `json:"ci_config_path"`
	PublicJobs                               bool              `json:"public_jobs"`
	SharedWithGroups                         []any             `json:"shared_with_groups"`
	OnlyAllowMergeIfPipelineSucceeds         bool              `json:"only_allow_merge_if_pipeline_succeeds"`
	RequestAccessEnabled                     bool              `json:"request_access_enabled"`
	OnlyAllowMergeIfAllDiscussionsAreResolve bool              `json:"only_allow_merge_if_all_discussions_are_resolved"`
	PrintingMergeRequestLinkEnabled          bool              `json:"printing_merge_request_link_enabled"`
	MergeMethod                              string            `json:"merge_method"`
	UpdatedAt                                string            `json:"updated_at"`
	Permissions                              *permissionsJSON  `json:"permissions,omitempty"`
}

type accessJSON struct {
	AccessLevel       int `json:"access_level"`
	NotificationLevel int `json:"notification_level"`
}

type permissionsJSON struct {
	ProjectAccess *accessJSON `json:"project_access"`
	GroupAccess   *accessJSON `json:"group_access"`
}

func (s *Server) simpleProjectJSONLocked(p *project) simpleProjectJSON {
	base := s.BaseURL()
	web := base + "/" + p.fullPath
	readme := web + "/-/blob/" + p.defaultBranch + "/README.md"
	desc := p.description
	return simpleProjectJSON{
		ID:                p.id,
		Description:       &desc,
		Name:              p.name,
		NameWithNamespace: s.humanNameLocked(p.ns) + " / " + p.name,
		Path:              p.path,
		PathWithNamespace: p.fullPath,
		CreatedAt:         gitlabTime(p.createdAt),
		DefaultBranch:     p.defaultBranch,
		TagList:           []string{},
		Topics:            []string{},
		SSHURLToRepo:      s.sshURL(p),
		HTTPURLToRepo:     web + ".git",
		WebURL:            web,
		ReadmeURL:         &readme,
		LastActivityAt:    gitlabTime(p.lastActivityAt),
		Namespace:         s.namespaceJSONLocked(p.ns),
	}
}

// projectJSONLocked renders the full project entity; permissions describe
// userID's access (omitted for anonymous requests).
func (s *Server) projectJSONLocked(p *project, userID int64) projectJSON {
	api := s.BaseURL() + "/api/v4/projects/" + strconv.FormatInt(p.id, 10)
	j := projectJSON{
		simpleProjectJSON: s.simpleProjectJSONLocked(p),
		Links: map[string]string{
			"self":           api,
			"issues":         api + "/issues",
			"merge_requests": api + "/merge_requests",
			"repo_branches":  api + "/repository/branches",
			"labels":         api + "/labels",
			"events":         api + "/events",
			"members":        api + "/members",
			"cluster_agents": api + "/cluster_agents",
		},
		PackagesEnabled:                 true,
		Archived:                        p.archived,
		Visibility:                      p.visibility,
		ContainerRegistryEnabled:        true,
		IssuesEnabled:                   true,
		MergeRequestsEnabled:            true,
		WikiEnabled:                     true,
		JobsEnabled:                     true,
		SnippetsEnabled:                 true,
		SharedRunnersEnabled:            true,
		LFSEnabled:                      true,
		CreatorID:                       p.creatorID,
		ImportStatus:                    "none",
		PublicJobs:                      true,
		SharedWithGroups:                []any{},
		RequestAccessEnabled:            true,
		PrintingMergeRequestLinkEnabled: true,
		MergeMethod:                     "merge",
		UpdatedAt:                       gitlabTime(p.updatedAt),
	}
	if p.ns.Kind == "user" {
		if u, ok := s.state.users[p.ns.OwnerID]; ok {
			j.Owner = s.userBasicJSON(u)
		}
	}
	if userID != 0 {
		perms := &permissionsJSON{}
		if lvl, ok := p.members[userID]; ok {
			perms.ProjectAccess = &accessJSON{AccessLevel: lvl, NotificationLevel: 3}
		}
		j.Permissions = perms
	}
	return j
}
