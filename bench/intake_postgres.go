package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/oore-ci/oore-scm-gitlab/host-test/gitlabsim"
	"github.com/oore-ci/oore-scm-gitlab/host-test/host"
	"github.com/oore-ci/oore-scm-gitlab/host-test/host/secrets"
	"github.com/oore-ci/oore-scm-gitlab/host-test/host/store"
	"github.com/oore-ci/oore-scm-gitlab/host-test/pgtest"
)

// secIntakeShared holds issue 11's figures: intake on PostgreSQL, by one
// host and by two hosts sharing the database.
const secIntakeShared = "6b. end-to-end intake on PostgreSQL: one host, then two hosts sharing the database"

// EnvPostgresURL points the PostgreSQL intake figures at a server whose user
// may create databases; unset, pgtest's (OORE_TEST_POSTGRES_URL, then the
// local defaults) is used. Each measurement gets a new database, dropped
// after.
const EnvPostgresURL = "OORE_BENCH_POSTGRES_URL"

// intakePostgres measures the intake figures of intake (the same senders,
// pushes and rounds) with the hosts' store on PostgreSQL: one host, then two
// hosts on one database with the senders split between them. Each host has
// its own connection pool and its own plugin process, as separate oore-host
// processes would; they share this process's CPUs. Every delivery must be
// stored exactly once, and resending one host's deliveries to the other
// must be answered duplicate.
func (r *run) intakePostgres(ctx context.Context) error {
	server, err := findPostgres(ctx)
	if err != nil {
		return err
	}
	settings, err := postgresSettings(ctx, server)
	if err != nil {
		return err
	}
	for _, hosts := range []int{1, 2} {
		if err := r.intakeOnPostgres(ctx, server, settings, hosts); err != nil {
			return fmt.Errorf("%d host(s) on PostgreSQL: %w", hosts, err)
		}
	}
	return nil
}

func (r *run) intakeOnPostgres(ctx context.Context, server, settings string, hosts int) error {
	sz := r.sz
	dbURL, drop, err := createBenchDatabase(ctx, server)
	if err != nil {
		return err
	}
	defer drop()
	rigs, closeRigs, err := startSharedIntakeRigs(ctx, r.bins, r.dir, r.cfg.PluginEnv, 4, hosts, dbURL)
	if err != nil {
		return err
	}
	defer closeRigs()
	if _, _, err := loadAcross(ctx, rigs, sz.intakeSenders, 2, "warm", false); err != nil {
		return fmt.Errorf("warm-up: %w", err)
	}
	sent := sz.intakeSenders * 2
	var perSecond, p50, p99 []float64
	for round := range sz.intakeRounds {
		lat, wall, err := loadAcross(ctx, rigs, sz.intakeSenders, sz.intakePerSender, "round"+strconv.Itoa(round), false)
		if err != nil {
			return err
		}
		sent += len(lat)
		perSecond = append(perSecond, float64(len(lat))/wall.Seconds())
		p50, p99 = append(p50, percentile(lat, 50)), append(p99, percentile(lat, 99))
	}
	// Resend what the first host stored of round 0 to the last host: each
	// must be a duplicate (with one host, to itself).
	resend := sz.intakeSenders / hosts
	if _, _, err := rigs[len(rigs)-1].load(ctx, resend, 1, "round0-h0", true); err != nil {
		return fmt.Errorf("resend to another host: %w", err)
	}
	deliveries, distinct, triggers, err := rigs[0].counts(ctx)
	if err != nil {
		return err
	}
	if deliveries != sent || distinct != sent || triggers != sent {
		return fmt.Errorf("sent %d deliveries; the hosts stored %d (%d distinct) with %d build triggers", sent, deliveries, distinct, triggers)
	}
	name, label := "intake_pg", "one host on PostgreSQL"
	if hosts > 1 {
		name, label = fmt.Sprintf("intake_pg_%dhosts", hosts), fmt.Sprintf("%d hosts sharing one PostgreSQL", hosts)
	}
	setup := fmt.Sprintf("%s: %d senders split over the hosts × %d deliveries × %d rounds, 20-commit pushes to %d repositories; PostgreSQL %s",
		label, sz.intakeSenders, sz.intakePerSender, sz.intakeRounds, len(rigs[0].hooks), settings)
	r.report.add(secIntakeShared,
		Figure{Name: name + "_per_s", Value: median(perSecond), Unit: "per_s", Label: "deliveries per second, " + label, Note: setup},
		Figure{Name: name + "_p50_ms", Value: median(p50), Unit: "ms", Label: "latency p50, " + label},
		Figure{Name: name + "_p99_ms", Value: median(p99), Unit: "ms", Label: "latency p99, " + label},
		Figure{Name: name + "_stored", Value: float64(deliveries), Unit: "rows", Label: "deliveries stored, " + label,
			Note: fmt.Sprintf("= sent (%d), all distinct, one build trigger each; %d resent to another host were answered duplicate", sent, resend)},
	)
	return nil
}

// loadAcross runs rig.load on every rig at once, the senders split between
// them, and returns every latency and the wall time of the whole load.
func loadAcross(ctx context.Context, rigs []*intakeRig, senders, perSender int, prefix string, wantDuplicate bool) ([]float64, time.Duration, error) {
	type result struct {
		lat []float64
		err error
	}
	results := make([]result, len(rigs))
	var wg sync.WaitGroup
	start := time.Now()
	for i, rig := range rigs {
		wg.Go(func() {
			lat, _, err := rig.load(ctx, senders/len(rigs), perSender, fmt.Sprintf("%s-h%d", prefix, i), wantDuplicate)
			results[i] = result{lat, err}
		})
	}
	wg.Wait()
	wall := time.Since(start)
	var all []float64
	for _, res := range results {
		if res.err != nil {
			return nil, 0, res.err
		}
		all = append(all, res.lat...)
	}
	return all, wall, nil
}

// startSharedIntakeRigs starts n reference hosts on the PostgreSQL database
// dbURL, each with its own store (connection pool), plugin process and HTTP
// server, and one keyring as hosts sharing a database must. It sets them up
// the way intake's rig is (a personal-token integration, a webhook secret
// per repository, one 20-commit push per repository captured), through the
// first host's API.
func startSharedIntakeRigs(ctx context.Context, bins *binaries, dir string, env []string, repos, n int, dbURL string) (rigs []*intakeRig, closeAll func(), err error) {
	var stops []func()
	closeAll = func() {
		for _, rig := range rigs {
			rig.close()
		}
		for i := len(stops) - 1; i >= 0; i-- {
			stops[i]()
		}
	}
	defer func() {
		if err != nil {
			closeAll()
		}
	}()
	sim := gitlabsim.New(gitlabsim.Options{})
	simSrv := httptest.NewServer(sim)
	sim.URL = simSrv.URL
	stops = append(stops, func() { simSrv.Close(); _ = sim.Close() })
	user := sim.AddUser("intake", "Intake Bench")
	token := sim.AddPersonalAccessToken(user.ID, "bench", []string{"api", "read_repository"}, nil, false)
	var projects []*gitlabsim.Project
	for i := range repos {
		projects = append(projects, sim.AddProject(gitlabsim.ProjectSpec{Namespace: "intake-group", Path: "app-" + strconv.Itoa(i), Members: map[int64]int{user.ID: gitlabsim.MaintainerAccess}}))
	}
	key := make([]byte, secrets.KeySize)
	_, _ = rand.Read(key) // never fails (Go 1.24+)
	kr, err := secrets.New(key)
	if err != nil {
		return nil, nil, err
	}
	for range n {
		rig, err := startPostgresHost(ctx, bins, env, dbURL, kr)
		if err != nil {
			return nil, nil, err
		}
		rigs = append(rigs, rig)
	}

	first := rigs[0]
	owner, err := host.CreateToken(ctx, first.st, host.RoleOwner, "bench-owner")
	if err != nil {
		return nil, nil, err
	}
	var started struct {
		Integration struct {
			ID string `json:"id"`
		} `json:"integration"`
	}
	if err := first.api(ctx, "POST", "/v1/integrations/gitlab/start", owner, map[string]string{"host_url": simSrv.URL, "auth_mode": "personal_token", "access_token": token}, &started); err != nil {
		return nil, nil, err
	}
	var listed struct {
		Repositories []struct {
			ID         string `json:"id"`
			ExternalID string `json:"external_id"`
		} `json:"repositories"`
	}
	if err := rigs[n-1].api(ctx, "GET", "/v1/integrations/"+started.Integration.ID+"/repositories?limit=100", owner, nil, &listed); err != nil {
		return nil, nil, err
	}
	if len(listed.Repositories) != repos {
		return nil, nil, fmt.Errorf("the hosts list %d repositories, want %d", len(listed.Repositories), repos)
	}
	secretOf := map[string]string{}
	for _, r := range listed.Repositories {
		var s struct {
			Secret string `json:"webhook_secret"`
		}
		if err := first.api(ctx, "POST", "/v1/integration-repositories/"+r.ID+"/gitlab-webhook-secret", owner, nil, &s); err != nil {
			return nil, nil, err
		}
		secretOf[r.ExternalID] = s.Secret
	}
	capture := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) }))
	defer capture.Close()
	var hooks []*webhook
	for _, p := range projects {
		id := strconv.FormatInt(p.ID, 10)
		res, err := sim.SendWebhook(ctx, gitlabsim.WebhookSpec{ProjectID: p.ID, Kind: "push", URL: capture.URL, SecretToken: secretOf[id], Commits: 20})
		if err != nil {
			return nil, nil, fmt.Errorf("simulate a push to project %d: %w", p.ID, err)
		}
		hooks = append(hooks, &webhook{header: res.RequestHeaders.Clone(), body: res.Payload, secret: secretOf[id], projectID: id, commits: 20})
	}
	for _, rig := range rigs {
		rig.hooks = hooks
	}
	return rigs, closeAll, nil
}

// startPostgresHost runs one reference host in this process on the
// PostgreSQL database dbURL, with its own plugin process.
func startPostgresHost(ctx context.Context, bins *binaries, env []string, dbURL string, kr *secrets.Keyring) (rig *intakeRig, err error) {
	rig = &intakeRig{}
	defer func() {
		if err != nil {
			rig.close()
		}
	}()
	if rig.st, err = store.OpenPostgres(ctx, dbURL, kr, store.Options{}); err != nil {
		return nil, err
	}
	rig.stops = append(rig.stops, func() { _ = rig.st.Close() })
	if err := rig.serve(ctx, bins, env, kr, "http://oore-lb.test"); err != nil {
		return nil, err
	}
	return rig, nil
}

// findPostgres returns the first PostgreSQL server that answers:
// EnvPostgresURL, else pgtest's (OORE_TEST_POSTGRES_URL, then its defaults).
func findPostgres(ctx context.Context) (string, error) {
	candidates := pgtest.DefaultURLs()
	for _, env := range []string{pgtest.EnvURL, EnvPostgresURL} {
		if v := os.Getenv(env); v != "" {
			candidates = []string{v}
		}
	}
	var problems []string
	for _, u := range candidates {
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		conn, err := pgx.Connect(cctx, u)
		cancel()
		if err == nil {
			conn.Close(ctx)
			return u, nil
		}
		problems = append(problems, store.RedactURL(u)+": "+err.Error())
	}
	return "", fmt.Errorf("no PostgreSQL server answers (%s); start one with `export %s=\"$(scripts/ci-postgres.sh)\"`",
		strings.Join(problems, "; "), pgtest.EnvURL)
}

// postgresSettings describes the server: version and the settings that
// decide commit cost.
func postgresSettings(ctx context.Context, server string) (string, error) {
	conn, err := pgx.Connect(ctx, server)
	if err != nil {
		return "", err
	}
	defer conn.Close(ctx)
	var version, fsync, syncCommit string
	err = conn.QueryRow(ctx, `SELECT current_setting('server_version'), current_setting('fsync'), current_setting('synchronous_commit')`).
		Scan(&version, &fsync, &syncCommit)
	if err != nil {
		return "", fmt.Errorf("read PostgreSQL settings: %w", err)
	}
	return fmt.Sprintf("%s (fsync %s, synchronous_commit %s)", version, fsync, syncCommit), nil
}

// createBenchDatabase creates an empty database on server and returns its
// URL and a function that drops it.
func createBenchDatabase(ctx context.Context, server string) (string, func(), error) {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := "oore_bench_" + hex.EncodeToString(b)
	exec := func(ctx context.Context, stmt string) error {
		conn, err := pgx.Connect(ctx, server)
		if err != nil {
			return err
		}
		defer conn.Close(ctx)
		_, err = conn.Exec(ctx, stmt)
		return err
	}
	if err := exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return "", nil, fmt.Errorf("create database %s: %w", name, err)
	}
	drop := func() {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		_ = exec(dctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)")
	}
	u, err := pgtest.WithDatabase(server, name)
	if err != nil {
		drop()
		return "", nil, err
	}
	return u, drop, nil
}
