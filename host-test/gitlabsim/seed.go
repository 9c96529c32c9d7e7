package gitlabsim

// DemoRedirectURI is the OAuth redirect URI of the demo application: the
// reference host's callback on its default address.
const DemoRedirectURI = "http://127.0.0.1:8787/v1/integrations/gitlab/callback"

// Demo is what SeedDemo created.
type Demo struct {
	// User is "demo", the signed-in user of the OAuth flow.
	User *User
	// Token is demo's personal access token (api, read_repository),
	// expiring in a year.
	Token string
	// ReadOnlyToken is demo's token with only read_api, read_repository.
	ReadOnlyToken string
	// FlutterApp is oore-demo/mobile/flutter-app: private, demo is Owner.
	FlutterApp *Project
	// Website is oore-demo/website: public, demo is Maintainer.
	Website *Project
	// LegacyApp is oore-demo/legacy-app: private and archived, demo is
	// Maintainer.
	LegacyApp *Project
	// DesignSystem is oore-demo/mobile/design-system: private, demo is
	// only Reporter.
	DesignSystem *Project
	// Playground is demo/playground, in demo's personal namespace.
	Playground *Project
	// Handbook is oore-demo/handbook: internal, owned by alice; demo sees
	// it without being a member.
	Handbook *Project
	// Other is alice, another user.
	Other *User
	// OtherToken is alice's personal access token (api, read_repository).
	OtherToken string
	// OtherProjects are alice's private projects, invisible to demo.
	OtherProjects []*Project
	// ClientID and ClientSecret are a confidential OAuth application with
	// the redirect URI DemoRedirectURI and the scopes api, read_api,
	// read_user and read_repository.
	ClientID, ClientSecret string
}

// MemberProjectIDs lists the projects demo is a member of, in ID order.
func (d Demo) MemberProjectIDs() []int64 {
	return []int64{d.FlutterApp.ID, d.Website.ID, d.LegacyApp.ID, d.DesignSystem.ID, d.Playground.ID}
}

// SeedDemo creates the demo data set: the users demo and alice with their
// tokens, the oore-demo groups (nested) with projects of every kind the
// provider must handle, alice's private projects, and an OAuth application.
// Call it once per simulator.
func (s *Server) SeedDemo() Demo {
	var d Demo
	d.User = s.AddUser("demo", "Demo User")
	d.Other = s.AddUser("alice", "Alice Example")
	yearOn := s.Now().AddDate(1, 0, 0)
	d.Token = s.AddPersonalAccessToken(d.User.ID, "oore-demo", []string{"api", "read_repository"}, &yearOn, false)
	d.ReadOnlyToken = s.AddPersonalAccessToken(d.User.ID, "oore-demo-read-only", []string{"read_api", "read_repository"}, &yearOn, false)
	d.OtherToken = s.AddPersonalAccessToken(d.Other.ID, "alice", []string{"api", "read_repository"}, &yearOn, false)

	demo, alice := d.User.ID, d.Other.ID
	d.FlutterApp = s.AddProject(ProjectSpec{
		Namespace: "oore-demo/mobile", Path: "flutter-app", Name: "Flutter App",
		Description: "A Flutter app built by Oore CI.", Visibility: "private",
		Members: map[int64]int{demo: OwnerAccess, alice: DeveloperAccess},
	})
	d.Website = s.AddProject(ProjectSpec{
		Namespace: "oore-demo", Path: "website", Name: "Website",
		Description: "The public website.", Visibility: "public",
		Members: map[int64]int{demo: MaintainerAccess},
	})
	d.LegacyApp = s.AddProject(ProjectSpec{
		Namespace: "oore-demo", Path: "legacy-app", Name: "Legacy App",
		Description: "Archived; no longer built.", Visibility: "private", Archived: true,
		DefaultBranch: "master",
		Members:       map[int64]int{demo: MaintainerAccess},
	})
	d.DesignSystem = s.AddProject(ProjectSpec{
		Namespace: "oore-demo/mobile", Path: "design-system", Name: "Design System",
		Description: "Shared widgets; demo may only read it.", Visibility: "private",
		Members: map[int64]int{alice: OwnerAccess, demo: ReporterAccess},
	})
	d.Playground = s.AddProject(ProjectSpec{
		Namespace: "demo", Path: "playground", Name: "Playground", Visibility: "private",
	})
	d.Handbook = s.AddProject(ProjectSpec{
		Namespace: "oore-demo", Path: "handbook", Name: "Handbook", Visibility: "internal",
		Members: map[int64]int{alice: OwnerAccess},
	})
	d.OtherProjects = []*Project{
		s.AddProject(ProjectSpec{Namespace: "alice", Path: "secret-app", Name: "Secret App", Visibility: "private"}),
		s.AddProject(ProjectSpec{Namespace: "acme/tools", Path: "internal-tools", Name: "Internal Tools",
			Visibility: "private", Members: map[int64]int{alice: OwnerAccess}}),
	}
	d.ClientID, d.ClientSecret = s.AddOAuthApp("Oore CI (demo)", DemoRedirectURI,
		[]string{"api", "read_api", "read_user", "read_repository"}, true)
	return d
}
