// Package multihost tests several reference hosts sharing one PostgreSQL
// database, end to end: real oore-host processes (the binary), each with the
// real GitLab plugin as its subprocess, the GitLab simulator standing in for
// GitLab, and a real PostgreSQL server (host-test/pgtest; scripts/ci-postgres.sh
// starts one). The test plays the load balancer: it sends each request to the
// host it picks.
//
// The cases are what a load-balanced installation relies on: an OAuth
// callback landing on another host than its authorize, duplicate webhook
// deliveries spread over hosts, one OAuth refresh for many concurrent calls on
// several hosts, a rotated webhook secret refused everywhere at once, a host
// killed mid-flood losing nothing it acknowledged, and the whole walkthrough
// on PostgreSQL as on SQLite.
//
// Everything lives in the tests; this file only documents the package.
package multihost
