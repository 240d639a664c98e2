package bench

import (
	"context"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// CPU time per message does not move with what else the machine is doing,
// so it compares two runs, or two builds, where throughput on a shared
// machine cannot. Read from /proc: on other systems the figure is left out.

// benchCPU is where the CPU time of a measurement went, in microseconds
// per message.
type benchCPU struct {
	Server float64 `json:"server"`
	// Database is PostgreSQL's processes on this machine; SQLite runs inside the server.
	Database      *float64 `json:"database,omitempty"`
	LoadGenerator float64  `json:"load_generator"`
}

// benchCPUSample is the CPU time, in clock ticks, used so far by the
// server, by the local PostgreSQL processes and by this process, and the
// checkpoints PostgreSQL had begun: what a measurement is framed by.
type benchCPUSample struct {
	server, self int64
	// database is the ticks of each PostgreSQL process, by pid.
	database       map[string]int64
	ok, databaseOK bool
	// checkpoints is how many checkpoints PostgreSQL had begun.
	checkpoints   int64
	checkpointsOK bool
}

// databaseSince is the CPU time PostgreSQL used from before to s. A process
// that started in between counts in full; one that ended in between (a
// stopped server's backend) drops out, along with what it used meanwhile.
func (s benchCPUSample) databaseSince(before benchCPUSample) int64 {
	var total int64
	for pid, ticks := range s.database {
		total += ticks - before.database[pid]
	}
	return total
}

// clockTicks is USER_HZ, the unit of /proc's CPU times on every Linux.
const clockTicks = 100

func (b *bench) sampleCPU() benchCPUSample {
	var s benchCPUSample
	if b.srv == nil {
		return s
	}
	var okServer, okSelf bool
	s.server, okServer = procCPUTicks(strconv.Itoa(b.srv.cmd.Process.Pid))
	s.self, okSelf = procCPUTicks("self")
	s.ok = okServer && okSelf
	b.sampleDatabaseCPU(&s)
	if b.checkpoints != nil {
		n, err := b.checkpoints.Count(context.Background())
		s.checkpoints, s.checkpointsOK = n, err == nil
	}
	return s
}

// checkpointsBetween is how many checkpoints began from before to after, if both were read.
func checkpointsBetween(before, after benchCPUSample) *int64 {
	if !before.checkpointsOK || !after.checkpointsOK {
		return nil
	}
	return new(after.checkpoints - before.checkpoints)
}

// sampleClientCPU samples this process and the database while no server
// runs: in the db_limit baseline this process is the database's client.
func (b *bench) sampleClientCPU() benchCPUSample {
	var s benchCPUSample
	s.self, s.ok = procCPUTicks("self")
	b.sampleDatabaseCPU(&s)
	return s
}

func (b *bench) sampleDatabaseCPU(s *benchCPUSample) {
	if b.localPostgres() {
		s.database, s.databaseOK = commandCPUTicks("postgres")
	}
}

// cpuPerMessage turns two samples around a measurement of n messages into
// microseconds per message.
func cpuPerMessage(before, after benchCPUSample, n int) *benchCPU {
	if !before.ok || !after.ok || n <= 0 {
		return nil
	}
	c := &benchCPU{Server: perEvent(after.server-before.server, n), LoadGenerator: perEvent(after.self-before.self, n)}
	if before.databaseOK && after.databaseOK {
		db := perEvent(after.databaseSince(before), n)
		c.Database = &db
	}
	return c
}

// benchClientCPU is where the CPU time of the db_limit baseline went, in
// microseconds per transaction.
type benchClientCPU struct {
	// Client is this process, which on SQLite also runs the database.
	Client   float64  `json:"client"`
	Database *float64 `json:"database,omitempty"`
}

// cpuPerTransaction is the db_limit counterpart of cpuPerMessage: ticks
// used by the client and the database over n transactions.
func cpuPerTransaction(self, database int64, databaseOK bool, n int64) *benchClientCPU {
	if n <= 0 {
		return nil
	}
	c := &benchClientCPU{Client: perEvent(self, int(n))}
	if databaseOK {
		db := perEvent(database, int(n))
		c.Database = &db
	}
	return c
}

// perEvent turns clock ticks spent on n events into microseconds each.
func perEvent(ticks int64, n int) float64 {
	return benchRound(float64(ticks) * 1e6 / clockTicks / float64(n))
}

// localPostgres reports whether the measured database is a PostgreSQL
// server on this machine, whose processes can be read.
func (b *bench) localPostgres() bool {
	if !strings.HasPrefix(b.dsn, "postgres://") && !strings.HasPrefix(b.dsn, "postgresql://") {
		return false
	}
	u, err := url.Parse(b.dsn)
	if err != nil {
		return false
	}
	switch u.Hostname() {
	case "", "localhost", "127.0.0.1", "::1":
		return true
	}
	return false
}

// procCPUTicks returns the user and system time of process pid ("self" for this one).
func procCPUTicks(pid string) (int64, bool) {
	data, err := os.ReadFile(filepath.Join("/proc", pid, "stat"))
	if err != nil {
		return 0, false
	}
	// The command name, in parentheses, may hold spaces: fields count from its end.
	end := strings.LastIndexByte(string(data), ')')
	if end < 0 {
		return 0, false
	}
	fields := strings.Fields(string(data[end+1:]))
	if len(fields) < 13 {
		return 0, false
	}
	// utime and stime are the 14th and 15th fields; the state is the 3rd.
	utime, err1 := strconv.ParseInt(fields[11], 10, 64)
	stime, err2 := strconv.ParseInt(fields[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, false
	}
	return utime + stime, true
}

// commandCPUTicks reads the CPU time of each live process named command.
func commandCPUTicks(command string) (map[string]int64, bool) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, false
	}
	ticks := map[string]int64{}
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		comm, err := os.ReadFile(filepath.Join("/proc", e.Name(), "comm"))
		if err != nil || strings.TrimSpace(string(comm)) != command {
			continue
		}
		if t, ok := procCPUTicks(e.Name()); ok {
			ticks[e.Name()] = t
		}
	}
	return ticks, len(ticks) > 0
}
