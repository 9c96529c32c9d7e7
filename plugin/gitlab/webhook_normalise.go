package gitlab

import (
	"strconv"
	"strings"
	"time"

	scmv1 "github.com/oore-ci/oore-scm-gitlab/shared/gen/oore/scm/v1"
)

// zeroSHA is the "before" of a created ref and the "after" of a deleted one.
const zeroSHA = "0000000000000000000000000000000000000000"

// normalisePush turns a push payload into an event. repo is the project id
// the payload was verified for.
func normalisePush(p *hookPayload, repo string) *scmv1.Event {
	push := &scmv1.PushEvent{
		Ref:         p.Ref,
		Before:      p.Before,
		After:       p.After,
		CheckoutSha: p.CheckoutSHA,
		Created:     p.Before == zeroSHA,
		Deleted:     p.After == zeroSHA,
		CommitCount: p.TotalCommitsCount,
		Pusher:      &scmv1.Person{Name: p.UserName, Email: p.UserEmail, Username: p.UserUsername},
	}
	if branch, ok := strings.CutPrefix(p.Ref, "refs/heads/"); ok {
		push.Branch = branch
	}
	if n := len(p.Commits); n > 0 {
		// One allocation for all commits and one for all authors.
		commits := make([]scmv1.Commit, n)
		authors := make([]scmv1.Person, n)
		push.Commits = make([]*scmv1.Commit, n)
		for i := range p.Commits {
			c := &p.Commits[i]
			authors[i].Name, authors[i].Email = c.Author.Name, c.Author.Email
			commits[i].Sha = c.ID
			commits[i].Message = c.Message
			commits[i].Title = c.Title
			commits[i].Timestamp = unixTime(c.Timestamp)
			commits[i].Url = c.URL
			commits[i].Author = &authors[i]
			push.Commits[i] = &commits[i]
		}
		push.SkipCi = !push.Deleted && asksToSkipCI(headCommit(p).Message)
	}
	ev := repositoryEvent(scmv1.EventKind_EVENT_KIND_PUSH, repo, &p.Project)
	ev.Payload = &scmv1.Event_Push{Push: push}
	return ev
}

// headCommit is the commit a push builds: the one whose id is checkout_sha
// (else after), else the last one listed (GitLab lists the newest last).
func headCommit(p *hookPayload) *hookCommit {
	head := p.CheckoutSHA
	if head == "" {
		head = p.After
	}
	for i := len(p.Commits) - 1; i >= 0; i-- {
		if p.Commits[i].ID == head {
			return &p.Commits[i]
		}
	}
	return &p.Commits[len(p.Commits)-1]
}

// normaliseTagPush turns a tag push payload into an event. sha is the
// tagged commit (checkout_sha, else after); empty when the tag was deleted.
func normaliseTagPush(p *hookPayload, repo string) *scmv1.Event {
	tag := &scmv1.TagPushEvent{
		Ref:     p.Ref,
		Before:  p.Before,
		After:   p.After,
		Created: p.Before == zeroSHA,
		Deleted: p.After == zeroSHA,
		Pusher:  &scmv1.Person{Name: p.UserName, Email: p.UserEmail, Username: p.UserUsername},
	}
	if name, ok := strings.CutPrefix(p.Ref, "refs/tags/"); ok {
		tag.Tag = name
	}
	switch {
	case p.CheckoutSHA != "":
		tag.Sha = p.CheckoutSHA
	case !tag.Deleted:
		tag.Sha = p.After
	}
	ev := repositoryEvent(scmv1.EventKind_EVENT_KIND_TAG_PUSH, repo, &p.Project)
	ev.Payload = &scmv1.Event_TagPush{TagPush: tag}
	return ev
}

// mergeRequestActions maps GitLab's object_attributes.action; every other
// word (approved, unapproved, approval, unapproval, ...) is OTHER.
var mergeRequestActions = map[string]scmv1.MergeRequestAction{
	"open":   scmv1.MergeRequestAction_MERGE_REQUEST_ACTION_OPENED,
	"reopen": scmv1.MergeRequestAction_MERGE_REQUEST_ACTION_REOPENED,
	"update": scmv1.MergeRequestAction_MERGE_REQUEST_ACTION_UPDATED,
	"close":  scmv1.MergeRequestAction_MERGE_REQUEST_ACTION_CLOSED,
	"merge":  scmv1.MergeRequestAction_MERGE_REQUEST_ACTION_MERGED,
}

// normaliseMergeRequest turns a merge request payload into an event.
func normaliseMergeRequest(p *hookPayload, repo string) *scmv1.Event {
	a := &p.Attributes
	action, ok := mergeRequestActions[a.Action]
	if !ok {
		action = scmv1.MergeRequestAction_MERGE_REQUEST_ACTION_OTHER
	}
	mr := &scmv1.MergeRequestEvent{
		Number:                     a.IID,
		Id:                         idString(a.ID),
		Action:                     action,
		ProviderAction:             a.Action,
		Title:                      a.Title,
		Url:                        a.URL,
		State:                      a.State,
		SourceBranch:               a.SourceBranch,
		TargetBranch:               a.TargetBranch,
		SourceRepositoryExternalId: idString(a.SourceProjectID),
		TargetRepositoryExternalId: idString(a.TargetProjectID),
		HeadSha:                    a.LastCommit.ID,
		SameRepository:             a.SourceProjectID > 0 && a.SourceProjectID == a.TargetProjectID,
		Draft:                      a.Draft || a.WorkInProgress,
		HeadChanged:                a.OldRev != "" || a.Action == "open" || a.Action == "reopen",
		Author:                     &scmv1.Person{Name: p.User.Name, Email: p.User.Email, Username: p.User.Username},
		SkipCi:                     asksToSkipCI(a.Title) || asksToSkipCI(a.LastCommit.Message),
	}
	// The event's repository is the target project: "project" describes it
	// in project hooks; system and group hooks may carry only "target".
	project := &p.Project
	if idString(project.ID) != repo && a.Target.GitHTTPURL != "" {
		project = &hookProject{
			PathWithNamespace: a.Target.PathWithNamespace,
			GitHTTPURL:        a.Target.GitHTTPURL,
			WebURL:            a.Target.WebURL,
		}
	}
	ev := repositoryEvent(scmv1.EventKind_EVENT_KIND_MERGE_REQUEST, repo, project)
	ev.Payload = &scmv1.Event_MergeRequest{MergeRequest: mr}
	return ev
}

// repositoryEvent is an event about one repository, without its payload.
func repositoryEvent(kind scmv1.EventKind, repo string, project *hookProject) *scmv1.Event {
	return &scmv1.Event{
		Kind:                 kind,
		RepositoryExternalId: repo,
		RepositoryFullName:   project.PathWithNamespace,
		CloneUrl:             project.GitHTTPURL,
		WebUrl:               project.WebURL,
	}
}

// idString is a GitLab id in decimal, or "" for none.
func idString(id int64) string {
	if id <= 0 {
		return ""
	}
	return strconv.FormatInt(id, 10)
}

// unixTime reads an RFC 3339 timestamp as encoding/json reads a time.Time;
// 0 when it is missing or malformed (one bad commit date builds anyway).
// GitLab's own form, "2006-01-02T15:04:05+07:00" or "...Z", is read
// directly; anything else goes through time.Time.UnmarshalText.
func unixTime(s string) int64 {
	if s == "" {
		return 0
	}
	if sec, ok := plainRFC3339(s); ok {
		return sec
	}
	var t time.Time
	if err := t.UnmarshalText([]byte(s)); err != nil {
		return 0
	}
	return t.Unix()
}

// plainRFC3339 reads "YYYY-MM-DDTHH:MM:SS" followed by "Z" or "±hh:mm",
// without fractions, and only when every field is in range: exactly the
// strings time's strict RFC 3339 parser accepts in this shape. ok is false
// for every other string.
func plainRFC3339(s string) (sec int64, ok bool) {
	if len(s) != len("2006-01-02T15:04:05Z") && len(s) != len("2006-01-02T15:04:05+07:00") {
		return 0, false
	}
	if s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':' {
		return 0, false
	}
	num := func(i, n int) int {
		v := 0
		for _, c := range []byte(s[i : i+n]) {
			if c < '0' || c > '9' {
				return -1
			}
			v = v*10 + int(c-'0')
		}
		return v
	}
	year, month, day := num(0, 4), num(5, 2), num(8, 2)
	hour, minute, second := num(11, 2), num(14, 2), num(17, 2)
	if year < 1 || month < 1 || month > 12 || day < 1 || day > daysIn(month, year) ||
		hour < 0 || hour > 23 || minute < 0 || minute > 59 || second < 0 || second > 59 {
		return 0, false
	}
	offset := 0
	switch {
	case len(s) == 20 && s[19] == 'Z':
	case len(s) == 25 && (s[19] == '+' || s[19] == '-') && s[22] == ':':
		oh, om := num(20, 2), num(23, 2)
		if oh < 0 || oh > 23 || om < 0 || om > 59 {
			return 0, false
		}
		offset = oh*3600 + om*60
		if s[19] == '-' {
			offset = -offset
		}
	default:
		return 0, false
	}
	return daysSinceEpoch(year, month, day)*86400 + int64(hour*3600+minute*60+second-offset), true
}

func daysIn(month, year int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	default:
		return 31
	}
}

// daysSinceEpoch is the number of days from 1970-01-01 to a proleptic
// Gregorian date (Howard Hinnant's days_from_civil).
func daysSinceEpoch(year, month, day int) int64 {
	y := int64(year)
	if month <= 2 {
		y--
	}
	era := y / 400 // year >= 1 makes y >= 0: no floor correction needed
	yoe := y - era*400
	m := int64(month)
	if m > 2 {
		m -= 3
	} else {
		m += 9
	}
	doy := (153*m+2)/5 + int64(day) - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return era*146097 + doe - 719468
}

// asksToSkipCI reports whether a commit message or title asks to skip CI the
// way GitLab's own pipelines understand it: "[skip ci]" or "[ci skip]" in
// any letter case, with a space, "-" or "_" between the words.
func asksToSkipCI(msg string) bool {
	const n = len("[skip ci]")
	for i := strings.IndexByte(msg, '['); i >= 0 && len(msg)-i >= n; i = strings.IndexByte(msg, '[') {
		if m := msg[i : i+n]; m[n-1] == ']' && skipWords(m[1:n-1]) {
			return true
		}
		msg = msg[i+1:]
	}
	return false
}

// skipWords matches "skip ci" and "ci skip" (7 bytes).
func skipWords(w string) bool {
	return isWordSeparator(w[4]) && strings.EqualFold(w[:4], "skip") && strings.EqualFold(w[5:], "ci") ||
		isWordSeparator(w[2]) && strings.EqualFold(w[:2], "ci") && strings.EqualFold(w[3:], "skip")
}

func isWordSeparator(c byte) bool { return c == ' ' || c == '-' || c == '_' }
