// lossload (issue 9): paced loopback connects, half to a listener that
// greets ("hello") and closes, half to a closed port (refused); prints how
// many were made. bench/loss.sh runs it under `connscope trace` (no filter).
package main

import (
	"flag"
	"fmt"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	rate := flag.Int("rate", 14000, "connects/s")
	d := flag.Duration("duration", 10*time.Second, "")
	okPort := flag.Int("ok-port", 14306, "")
	refPort := flag.Int("refused-port", 14307, "")
	flag.Parse()
	ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(*okPort))
	if err != nil {
		panic(err)
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Write([]byte("hello\r\n"))
			c.Close()
		}
	}()
	var okN, refN, otherN atomic.Int64
	jobs := make(chan int, *rate)
	var wg sync.WaitGroup
	for i := 0; i < 64; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 64)
			for j := range jobs {
				port := *okPort
				if j%2 == 1 {
					port = *refPort
				}
				c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(port), 2*time.Second)
				if err != nil {
					if j%2 == 1 {
						refN.Add(1)
					} else {
						otherN.Add(1)
					}
					continue
				}
				okN.Add(1)
				for {
					if _, err := c.Read(buf); err != nil {
						break
					}
				}
				c.Close()
			}
		}()
	}
	start := time.Now()
	tick := time.NewTicker(time.Millisecond)
	issued, skipped := 0, 0
	for now := range tick.C {
		if now.Sub(start) > *d {
			break
		}
		due := int(now.Sub(start).Seconds() * float64(*rate))
		for ; issued < due; issued++ {
			select {
			case jobs <- issued:
			default:
				skipped++
			}
		}
	}
	tick.Stop()
	close(jobs)
	wg.Wait()
	secs := time.Since(start).Seconds()
	made := okN.Load() + refN.Load() + otherN.Load()
	fmt.Printf("made=%d ok=%d refused=%d otherfail=%d rate=%.0f/s skipped=%d\n", made, okN.Load(), refN.Load(), otherN.Load(), float64(made)/secs, skipped)
}
