package live

import (
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"strings"

	"golang.org/x/sys/unix"
)

// netnsPath turns a --netns value into the file to open: a name as `ip
// netns` knows it (/run/netns/NAME), or a path such as /proc/PID/ns/net (a
// container's namespace).
func netnsPath(ns string) string {
	if strings.Contains(ns, "/") {
		return ns
	}
	return filepath.Join("/run/netns", ns)
}

// inNetns runs fn on an OS thread switched into the network namespace ns
// ("" runs fn as is). Sockets fn creates stay in that namespace for their
// whole life, whichever thread later uses them: an AF_PACKET socket only
// sees the interfaces of the namespace it was created in, so this is how a
// capture follows a command that runs in another namespace (`ip netns exec`,
// a container).
//
// The thread is switched back before it is handed back to the Go scheduler;
// if that fails it stays locked and Go discards it with the goroutine.
func inNetns(ns string, fn func() error) error {
	if ns == "" {
		return fn()
	}
	path := netnsPath(ns)
	target, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		if errors.Is(err, unix.ENOENT) {
			return fmt.Errorf("network namespace %q: %s does not exist (see `ip netns list`; a path such as /proc/PID/ns/net works too)", ns, path)
		}
		return fmt.Errorf("network namespace %q: opening %s: %w", ns, path, err)
	}
	defer unix.Close(target)

	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		self, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			runtime.UnlockOSThread()
			done <- fmt.Errorf("network namespace: opening this thread's own namespace: %w", err)
			return
		}
		defer unix.Close(self)
		if err := unix.Setns(target, unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			if errors.Is(err, unix.EPERM) {
				done <- fmt.Errorf("network namespace %q: entering it needs root or CAP_SYS_ADMIN: %w", ns, err)
			} else if errors.Is(err, unix.EINVAL) {
				done <- fmt.Errorf("network namespace %q: %s is not a network namespace: %w", ns, path, err)
			} else {
				done <- fmt.Errorf("network namespace %q: setns: %w", ns, err)
			}
			return
		}
		ferr := fn()
		if err := unix.Setns(self, unix.CLONE_NEWNET); err != nil {
			// Keep the thread locked: it dies with this goroutine
			// instead of running other goroutines in the wrong namespace.
			done <- errors.Join(ferr, fmt.Errorf("network namespace: switching back: %w", err))
			return
		}
		runtime.UnlockOSThread()
		done <- ferr
	}()
	return <-done
}
