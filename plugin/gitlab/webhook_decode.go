package gitlab

// This file is the lean webhook payload: only the fields the normalised
// events need, read in one pass by the scanner in webhook_jsonscan.go. The
// json tags say which key each field comes from; json.Unmarshal into these
// structs gives the same values (FuzzLeanDecoderMatchesEncodingJSON).

// decodeMode says which parts of a payload the caller needs; everything else
// is skipped (still validated) without being decoded.
type decodeMode uint8

const (
	// decodeIdentify reads only what identifies a delivery: object_kind,
	// event_name, project_id, project.id and object_attributes.target_project_id.
	decodeIdentify decodeMode = iota
	// decodePush adds the repository's names and the push fields and commits.
	decodePush
	// decodeMergeRequest adds the repository's names, the user and the
	// merge request's attributes.
	decodeMergeRequest
)

// hookPayload is the part of a GitLab webhook payload this provider reads.
type hookPayload struct {
	ObjectKind string      `json:"object_kind"`
	EventName  string      `json:"event_name"`
	ProjectID  int64       `json:"project_id"`
	Project    hookProject `json:"project"`

	// Push and tag push.
	Before            string       `json:"before"`
	After             string       `json:"after"`
	Ref               string       `json:"ref"`
	CheckoutSHA       string       `json:"checkout_sha"`
	UserName          string       `json:"user_name"`
	UserUsername      string       `json:"user_username"`
	UserEmail         string       `json:"user_email"`
	TotalCommitsCount int64        `json:"total_commits_count"`
	Commits           []hookCommit `json:"commits"`

	// Merge request.
	User       hookUser         `json:"user"`
	Attributes hookMergeRequest `json:"object_attributes"`
}

// hookProject is a payload's "project". In decodeIdentify only ID is read.
type hookProject struct {
	ID                int64  `json:"id"`
	PathWithNamespace string `json:"path_with_namespace"`
	GitHTTPURL        string `json:"git_http_url"`
	WebURL            string `json:"web_url"`
}

// hookCommit is one of a push's commits.
type hookCommit struct {
	ID        string     `json:"id"`
	Message   string     `json:"message"`
	Title     string     `json:"title"`
	Timestamp string     `json:"timestamp"`
	URL       string     `json:"url"`
	Author    hookAuthor `json:"author"`
}

// hookAuthor is a commit's author.
type hookAuthor struct {
	Name  string `json:"name"`
	Email string `json:"email"`
}

// hookUser is the user who caused a merge request event.
type hookUser struct {
	Name     string `json:"name"`
	Username string `json:"username"`
	Email    string `json:"email"`
}

// hookMergeRequest is a merge request event's "object_attributes". In
// decodeIdentify only TargetProjectID is read.
type hookMergeRequest struct {
	ID              int64          `json:"id"`
	IID             int64          `json:"iid"`
	Title           string         `json:"title"`
	URL             string         `json:"url"`
	State           string         `json:"state"`
	Action          string         `json:"action"`
	SourceBranch    string         `json:"source_branch"`
	TargetBranch    string         `json:"target_branch"`
	SourceProjectID int64          `json:"source_project_id"`
	TargetProjectID int64          `json:"target_project_id"`
	Draft           bool           `json:"draft"`
	WorkInProgress  bool           `json:"work_in_progress"`
	OldRev          string         `json:"oldrev"`
	LastCommit      hookLastCommit `json:"last_commit"`
	Target          hookRepository `json:"target"`
}

// hookLastCommit is a merge request's head commit.
type hookLastCommit struct {
	ID      string `json:"id"`
	Message string `json:"message"`
}

// hookRepository is a merge request's target project as the attributes
// describe it (system hooks and group hooks may lack "project").
type hookRepository struct {
	PathWithNamespace string `json:"path_with_namespace"`
	GitHTTPURL        string `json:"git_http_url"`
	WebURL            string `json:"web_url"`
}

// decodePayload reads body in one pass. Errors are *jsonError: the body is
// not JSON, or a field this provider reads has the wrong type.
func decodePayload(body []byte, mode decodeMode) (*hookPayload, error) {
	var s jsonScanner
	switch mode {
	case decodePush:
		// Commits are mostly text the event keeps: measured on GitLab's
		// payloads, a little over half of the body.
		s.init(body, len(body)*5/8)
	case decodeMergeRequest:
		// A few names and URLs out of a long payload.
		s.init(body, 512+len(body)/32)
	default:
		s.init(body, 32) // object_kind and event_name at most
	}
	p := &hookPayload{}
	if err := s.document(func(key []byte) error { return p.member(&s, mode, key) }); err != nil {
		return nil, err
	}
	return p, nil
}

// lookupField finds key among a struct's field names with encoding/json's
// rule: the exact name first, then the case-folded one.
func lookupField(key []byte, byName func([]byte) int) int {
	if f := byName(key); f >= 0 {
		return f
	}
	if folded, ok := foldKey(key); ok {
		return byName(folded)
	}
	return -1
}

const (
	pObjectKind = iota
	pEventName
	pProjectID
	pProject
	pBefore
	pAfter
	pRef
	pCheckoutSHA
	pUserName
	pUserUsername
	pUserEmail
	pTotalCommitsCount
	pCommits
	pUser
	pObjectAttributes
)

func payloadField(key []byte) int {
	switch string(key) {
	case "object_kind":
		return pObjectKind
	case "event_name":
		return pEventName
	case "project_id":
		return pProjectID
	case "project":
		return pProject
	case "before":
		return pBefore
	case "after":
		return pAfter
	case "ref":
		return pRef
	case "checkout_sha":
		return pCheckoutSHA
	case "user_name":
		return pUserName
	case "user_username":
		return pUserUsername
	case "user_email":
		return pUserEmail
	case "total_commits_count":
		return pTotalCommitsCount
	case "commits":
		return pCommits
	case "user":
		return pUser
	case "object_attributes":
		return pObjectAttributes
	}
	return -1
}

func (p *hookPayload) member(s *jsonScanner, mode decodeMode, key []byte) error {
	f := lookupField(key, payloadField)
	switch f {
	case pObjectKind:
		return s.str(&p.ObjectKind)
	case pEventName:
		return s.str(&p.EventName)
	case pProjectID:
		return s.int(&p.ProjectID)
	case pProject:
		return s.objectOrNull(func(key []byte) error { return p.Project.member(s, mode, key) })
	case pObjectAttributes:
		if mode != decodePush {
			return s.objectOrNull(func(key []byte) error { return p.Attributes.member(s, mode, key) })
		}
	case pUser:
		if mode == decodeMergeRequest {
			return s.objectOrNull(func(key []byte) error { return p.User.member(s, key) })
		}
	}
	if mode != decodePush {
		return s.skip()
	}
	switch f {
	case pBefore:
		return s.str(&p.Before)
	case pAfter:
		return s.str(&p.After)
	case pRef:
		return s.str(&p.Ref)
	case pCheckoutSHA:
		return s.str(&p.CheckoutSHA)
	case pUserName:
		return s.str(&p.UserName)
	case pUserUsername:
		return s.str(&p.UserUsername)
	case pUserEmail:
		return s.str(&p.UserEmail)
	case pTotalCommitsCount:
		return s.int(&p.TotalCommitsCount)
	case pCommits:
		return p.decodeCommits(s)
	}
	return s.skip()
}

// maxPushCommits is how many commits GitLab lists in a push payload.
const maxPushCommits = 20

// decodeCommits reads "commits" as encoding/json reads an array into a
// slice: null sets nil; an empty array sets a new empty slice; any other
// array decodes element i into the slice's element i (so a repeated key
// decodes into the elements already there) and cuts the slice to the
// array's length.
func (p *hookPayload) decodeCommits(s *jsonScanner) error {
	switch s.peek() {
	case 'n':
		if err := s.literal("null"); err != nil {
			return err
		}
		p.Commits = nil
		return nil
	case '[':
	default:
		return s.wrongType("an array")
	}
	cs := p.Commits
	if cs == nil {
		cs = make([]hookCommit, 0, maxPushCommits)
	}
	n, err := s.array(func(i int) error {
		if i >= len(cs) {
			if i < cap(cs) {
				cs = cs[:i+1]
			} else {
				cs = append(cs, hookCommit{})
			}
		}
		c := &cs[i]
		return s.objectOrNull(func(key []byte) error { return c.member(s, key) })
	})
	if err != nil {
		return err
	}
	if n == 0 {
		cs = []hookCommit{} // a new empty slice, as encoding/json sets
	}
	p.Commits = cs[:n]
	return nil
}

func projectField(key []byte) int {
	switch string(key) {
	case "id":
		return 0
	case "path_with_namespace":
		return 1
	case "git_http_url":
		return 2
	case "web_url":
		return 3
	}
	return -1
}

func (r *hookProject) member(s *jsonScanner, mode decodeMode, key []byte) error {
	f := lookupField(key, projectField)
	if f == 0 {
		return s.int(&r.ID)
	}
	if mode == decodeIdentify {
		return s.skip()
	}
	switch f {
	case 1:
		return s.str(&r.PathWithNamespace)
	case 2:
		return s.str(&r.GitHTTPURL)
	case 3:
		return s.str(&r.WebURL)
	}
	return s.skip()
}

func commitField(key []byte) int {
	switch string(key) {
	case "id":
		return 0
	case "message":
		return 1
	case "title":
		return 2
	case "timestamp":
		return 3
	case "url":
		return 4
	case "author":
		return 5
	}
	return -1
}

func (c *hookCommit) member(s *jsonScanner, key []byte) error {
	switch lookupField(key, commitField) {
	case 0:
		return s.str(&c.ID)
	case 1:
		return s.str(&c.Message)
	case 2:
		return s.str(&c.Title)
	case 3:
		return s.str(&c.Timestamp)
	case 4:
		return s.str(&c.URL)
	case 5:
		return s.objectOrNull(func(key []byte) error { return c.Author.member(s, key) })
	}
	return s.skip()
}

func personField(key []byte) int {
	switch string(key) {
	case "name":
		return 0
	case "email":
		return 1
	case "username":
		return 2
	}
	return -1
}

func (a *hookAuthor) member(s *jsonScanner, key []byte) error {
	switch lookupField(key, personField) {
	case 0:
		return s.str(&a.Name)
	case 1:
		return s.str(&a.Email)
	}
	return s.skip()
}

func (u *hookUser) member(s *jsonScanner, key []byte) error {
	switch lookupField(key, personField) {
	case 0:
		return s.str(&u.Name)
	case 1:
		return s.str(&u.Email)
	case 2:
		return s.str(&u.Username)
	}
	return s.skip()
}

const (
	mID = iota
	mIID
	mTitle
	mURL
	mState
	mAction
	mSourceBranch
	mTargetBranch
	mSourceProjectID
	mTargetProjectID
	mDraft
	mWorkInProgress
	mOldRev
	mLastCommit
	mTarget
)

func mergeRequestField(key []byte) int {
	switch string(key) {
	case "id":
		return mID
	case "iid":
		return mIID
	case "title":
		return mTitle
	case "url":
		return mURL
	case "state":
		return mState
	case "action":
		return mAction
	case "source_branch":
		return mSourceBranch
	case "target_branch":
		return mTargetBranch
	case "source_project_id":
		return mSourceProjectID
	case "target_project_id":
		return mTargetProjectID
	case "draft":
		return mDraft
	case "work_in_progress":
		return mWorkInProgress
	case "oldrev":
		return mOldRev
	case "last_commit":
		return mLastCommit
	case "target":
		return mTarget
	}
	return -1
}

func (m *hookMergeRequest) member(s *jsonScanner, mode decodeMode, key []byte) error {
	f := lookupField(key, mergeRequestField)
	if f == mTargetProjectID {
		return s.int(&m.TargetProjectID)
	}
	if mode != decodeMergeRequest {
		return s.skip()
	}
	switch f {
	case mID:
		return s.int(&m.ID)
	case mIID:
		return s.int(&m.IID)
	case mTitle:
		return s.str(&m.Title)
	case mURL:
		return s.str(&m.URL)
	case mState:
		return s.str(&m.State)
	case mAction:
		return s.str(&m.Action)
	case mSourceBranch:
		return s.str(&m.SourceBranch)
	case mTargetBranch:
		return s.str(&m.TargetBranch)
	case mSourceProjectID:
		return s.int(&m.SourceProjectID)
	case mDraft:
		return s.boolean(&m.Draft)
	case mWorkInProgress:
		return s.boolean(&m.WorkInProgress)
	case mOldRev:
		return s.str(&m.OldRev)
	case mLastCommit:
		return s.objectOrNull(func(key []byte) error {
			switch lookupField(key, commitField) {
			case 0:
				return s.str(&m.LastCommit.ID)
			case 1:
				return s.str(&m.LastCommit.Message)
			}
			return s.skip()
		})
	case mTarget:
		return s.objectOrNull(func(key []byte) error {
			switch lookupField(key, projectField) {
			case 1:
				return s.str(&m.Target.PathWithNamespace)
			case 2:
				return s.str(&m.Target.GitHTTPURL)
			case 3:
				return s.str(&m.Target.WebURL)
			}
			return s.skip()
		})
	}
	return s.skip()
}
