package store_test

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/oore-ci/oore-scm-gitlab/host-test/host/secrets"
	"github.com/oore-ci/oore-scm-gitlab/host-test/host/store"
	"github.com/oore-ci/oore-scm-gitlab/host-test/pgtest"
)

func TestIsPostgresURL(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		in   string
		want bool
	}{
		"postgres":        {in: "postgres://u@db/oore", want: true},
		"postgresql":      {in: "postgresql://u@db/oore?sslmode=require", want: true},
		"data dir":        {in: "/var/lib/oore-host", want: false},
		"relative dir":    {in: "data", want: false},
		"other scheme":    {in: "mysql://u@db/oore", want: false},
		"no scheme slash": {in: "postgres:db", want: false},
	}
	for name, tc := range tests {
		if got := store.IsPostgresURL(tc.in); got != tc.want {
			t.Errorf("%s: IsPostgresURL(%q) = %v, want %v", name, tc.in, got, tc.want)
		}
	}
}

func TestRedactURL(t *testing.T) {
	t.Parallel()
	tests := map[string]struct{ in, want string }{
		"password":    {in: "postgres://oore:hunter2@db:5432/oore?sslmode=require", want: "postgres://oore:xxxxx@db:5432/oore?sslmode=require"},
		"no password": {in: "postgres://oore@db/oore", want: "postgres://oore@db/oore"},
		"unparsable":  {in: "postgres://oore:hunter2@db:port/x", want: "(unparsable database URL)"},
	}
	for name, tc := range tests {
		if got := store.RedactURL(tc.in); got != tc.want {
			t.Errorf("%s: RedactURL(%q) = %q, want %q", name, tc.in, got, tc.want)
		}
	}
}

// An error opening the database names it without its password.
func TestOpenPostgresErrorsHideThePassword(t *testing.T) {
	t.Parallel()
	kr, err := secrets.New(bytes.Repeat([]byte{1}, secrets.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	for name, url := range map[string]string{
		"unreachable": "postgres://oore:hunter2@127.0.0.1:1/oore?sslmode=disable&connect_timeout=5",
		"bad option":  "postgres://oore:hunter2@127.0.0.1:1/oore?sslmode=sometimes",
	} {
		_, err := store.OpenPostgres(context.Background(), url, kr, store.Options{})
		if err == nil {
			t.Errorf("%s: opened", name)
			continue
		}
		if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("%s: the error shows the password: %v", name, err)
		}
	}
}

// The PostgreSQL schema is the SQLite schema: the same tables, columns,
// types (by their portable meaning), nullability, defaults and indexes.
func TestSchemasMatch(t *testing.T) {
	t.Parallel()
	pgURL := pgtest.NewDatabase(t)
	kr, err := secrets.New(bytes.Repeat([]byte{1}, secrets.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	lite, err := store.OpenSQLite(ctx, t.TempDir(), kr, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer lite.Close()
	pg, err := store.OpenPostgres(ctx, pgURL, kr, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Close()

	// SQLite lets a non-INTEGER primary key hold NULL unless it is declared
	// NOT NULL; the store never writes one, so a key counts as not null.
	liteCols := query(t, lite.DB(), `SELECT m.name, p.name, p.type, CASE WHEN p."notnull" = 1 OR p.pk > 0 THEN 1 ELSE 0 END, COALESCE(p.dflt_value, '')
FROM sqlite_master m JOIN pragma_table_info(m.name) p WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%'`)
	pgCols := query(t, pg.DB(), `SELECT table_name, column_name, data_type, CASE WHEN is_nullable = 'NO' THEN 1 ELSE 0 END,
  COALESCE(column_default, '') FROM information_schema.columns WHERE table_schema = current_schema()`)
	if diff := diffSets(normaliseColumns(liteCols), normaliseColumns(pgCols)); diff != "" {
		t.Errorf("columns differ (table column type not-null default):%s", diff)
	}
	liteIdx := query(t, lite.DB(), `SELECT m.tbl_name, m.name, (SELECT group_concat(name, ',') FROM pragma_index_info(m.name))
FROM sqlite_master m WHERE m.type = 'index' AND m.sql IS NOT NULL`)
	pgIdx := query(t, pg.DB(), `SELECT t.relname, i.relname, (SELECT string_agg(a.attname, ',' ORDER BY k.n)
  FROM unnest(x.indkey) WITH ORDINALITY k(attnum, n) JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum)
FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid
JOIN pg_namespace ns ON ns.oid = t.relnamespace
WHERE ns.nspname = current_schema() AND NOT x.indisunique`)
	if diff := diffSets(liteIdx, pgIdx); diff != "" {
		t.Errorf("indexes differ (table index columns):%s", diff)
	}
	// An INTEGER PRIMARY KEY is SQLite's rowid: unique without an index.
	liteUnique := query(t, lite.DB(), `SELECT m.name, (SELECT group_concat(name, ',') FROM pragma_index_info(l.name))
FROM sqlite_master m JOIN pragma_index_list(m.name) l WHERE m.type = 'table' AND l."unique" = 1
UNION ALL SELECT m.name, p.name FROM sqlite_master m JOIN pragma_table_info(m.name) p
WHERE m.type = 'table' AND p.pk = 1 AND p.type = 'INTEGER'`)
	pgUnique := query(t, pg.DB(), `SELECT t.relname, (SELECT string_agg(a.attname, ',' ORDER BY k.n)
  FROM unnest(x.indkey) WITH ORDINALITY k(attnum, n) JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum)
FROM pg_index x JOIN pg_class t ON t.oid = x.indrelid JOIN pg_namespace ns ON ns.oid = t.relnamespace
WHERE ns.nspname = current_schema() AND x.indisunique`)
	if diff := diffSets(liteUnique, pgUnique); diff != "" {
		t.Errorf("unique keys differ (table columns):%s", diff)
	}
	liteFK := query(t, lite.DB(), `SELECT m.name, f."from", f."table", f."to", f.on_delete
FROM sqlite_master m JOIN pragma_foreign_key_list(m.name) f WHERE m.type = 'table'`)
	pgFK := query(t, pg.DB(), `SELECT kcu.table_name, kcu.column_name, ccu.table_name, ccu.column_name, rc.delete_rule
FROM information_schema.referential_constraints rc
JOIN information_schema.key_column_usage kcu ON kcu.constraint_name = rc.constraint_name AND kcu.constraint_schema = rc.constraint_schema
JOIN information_schema.constraint_column_usage ccu ON ccu.constraint_name = rc.unique_constraint_name AND ccu.constraint_schema = rc.unique_constraint_schema
WHERE rc.constraint_schema = current_schema()`)
	if diff := diffSets(liteFK, pgFK); diff != "" {
		t.Errorf("foreign keys differ (table column references column on-delete):%s", diff)
	}
	if len(liteCols) < 50 || len(liteIdx) < 4 || len(liteUnique) < 5 || len(liteFK) < 5 {
		t.Fatalf("schema introspection found too little: %d columns, %d indexes, %d unique keys, %d foreign keys",
			len(liteCols), len(liteIdx), len(liteUnique), len(liteFK))
	}
}

// query returns every row as its columns joined by spaces.
func query(t *testing.T, db *sql.DB, q string) []string {
	t.Helper()
	rows, err := db.Query(q)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	var out []string
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		parts := make([]string, len(vals))
		for i, v := range vals {
			if b, ok := v.([]byte); ok {
				v = string(b)
			}
			parts[i] = strings.ToUpper(fmt.Sprint(v))
		}
		out = append(out, strings.Join(parts, " "))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// normaliseColumns maps each database's type and default spelling onto one.
func normaliseColumns(rows []string) []string {
	types := strings.NewReplacer("BIGINT", "INTEGER", "BYTEA", "BLOB", "CHARACTER VARYING", "TEXT")
	out := make([]string, len(rows))
	for i, r := range rows {
		r = strings.ReplaceAll(r, "::TEXT", "")
		out[i] = types.Replace(r)
	}
	return out
}

func diffSets(a, b []string) string {
	in := func(xs []string) map[string]bool {
		m := map[string]bool{}
		for _, x := range xs {
			m[x] = true
		}
		return m
	}
	ma, mb := in(a), in(b)
	var d []string
	for x := range ma {
		if !mb[x] {
			d = append(d, "\n  only SQLite:     "+x)
		}
	}
	for x := range mb {
		if !ma[x] {
			d = append(d, "\n  only PostgreSQL: "+x)
		}
	}
	sort.Strings(d)
	return strings.Join(d, "")
}
