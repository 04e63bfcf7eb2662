// Package e2e holds connscope's end-to-end tests: they build the real
// binary and run it as a user would — `connscope run` around the lab's real
// mariadb and PHP clients, `connscope trace` with -w, Ctrl-C and SIGTERM,
// reading the written file back with tshark and `connscope analyze` — and
// check what it prints (as JSON). They need root and the lab (see
// lab/README.md) and skip, saying exactly why, otherwise.
//
// It has its own home because it tests the command as a whole, across every
// package, through its command line only.
package e2e
