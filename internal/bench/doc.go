// Package bench is the measurement behind imdsbench and "make bench": it
// starts an already built imdsd and a baseline as child processes on
// 127.0.0.1, loads both the way guests do, and reports the figures.
//
// The baseline is a minimal net/http server that mints one fixed token and
// answers every GET carrying it with one fixed value (ServeBaseline, run
// by the command as "imdsbench baseline"): the floor of what Go's net/http
// does on this machine, so every figure is printed for both and as the
// ratio imdsd ÷ baseline.
//
// Every request is made the way guests make them on EC2, which closes every
// connection: a new TCP connection, the raw request, the whole response read
// to EOF. The load generator is a raw client rather than net/http's, and
// the boot storm's crawler walks the tree over it rather than with package
// imdsclient, so that the figures measure the server and not the client's
// HTTP stack. The figures are: time to the first answer after exec,
// resident memory idle and at the peak, token GET throughput and p50/p99
// latency at several concurrencies, token PUT throughput, a boot storm of
// guests each taking a token and crawling the whole tree as cloud-init does
// (imdsd only), and a slowloris check: the p99 of other clients while
// thousands of connections sit on a half-sent request head.
//
// imdsd and the baseline run alternately for each figure (imdsd, baseline,
// baseline, imdsd, half the duration each) so both see the same machine load.
// The table marks each figure against its target for a 2-core machine; a
// missed target is a report, not a failure. Everything happens on
// 127.0.0.0/8, and the child processes are killed on exit and when ctx
// ends.
package bench
