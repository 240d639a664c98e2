package main

import (
	"context"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/convohq/convo"
	"github.com/convohq/convo/internal/testdb"
)

func TestReplicasShareDeliveries(t *testing.T) {
	t.Parallel()
	if os.Getenv(testdb.PostgresEnv) == "" {
		t.Skip("several replicas need PostgreSQL: set " + testdb.PostgresEnv)
	}
	bin := convoBinary(t)
	b := testdb.Postgres(t)
	start := time.Now()
	rcv := newLoadReceiver(t, 3*time.Millisecond)
	addrA, addrB := freeAddr(t), freeAddr(t)
	// Both answer on one public URL, as behind a load balancer.
	public := "http://" + addrA
	procs := []*killableServe{newKillableServe(t, b.DSN, addrA, public), newKillableServe(t, b.DSN, addrB, public)}
	for _, p := range procs {
		if err := p.start(bin); err != nil {
			t.Fatal(err)
		}
	}
	key := procs[0].accessKey()
	admin := &api{t: t, base: procs[0].base, cred: key}
	setWebhook(admin, "POST", rcv.URL(), "replica-secret")
	acc := newSMSHookAccount(admin)

	// A stream on one replica sees what is committed through the other.
	stream := dialStream(t, procs[1].base, "accesskey="+url.QueryEscape(key), nil)
	conv := sget(admin.newConversation(acc.ID), "id")
	stream.until(t, func(e streamEvent) bool { return e.Type == convo.EventConversationCreated && e.subject() == conv })
	stream.close()

	// Requests alternate between the replicas, going to the other one when
	// a replica is down.
	target := func(try int) string {
		p := procs[try%2]
		if p.dead.Load() {
			p = procs[(try+1)%2]
		}
		return p.base
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	first := &smsLoad{acc: acc, peers: phones(30), perPeer: 10, workers: 6, prefix: "SMone", target: target}
	if err := first.run(ctx); err != nil {
		t.Fatal(err)
	}
	awaitDeliveriesSettled(t, admin, 20*time.Second)
	// A quiet period, then every event must have arrived exactly once.
	time.Sleep(300 * time.Millisecond)
	received, overlaps, order := rcv.snapshot()
	all := checkAllReceived(t, admin, received)
	for _, d := range all {
		if n := received[d.ID]; n > 1 {
			t.Errorf("event %s (%s) was delivered %d times by two healthy replicas", d.ID, d.Type, n)
		}
	}
	checkStoredInOrder(t, admin, first, order)

	// Kill replica A while it is delivering; B takes over its work.
	second := &smsLoad{acc: acc, peers: phones(30), perPeer: 10, workers: 6, prefix: "SMtwo", target: target}
	killed := make(chan struct{})
	go func() {
		defer close(killed)
		for second.acked.Load() < 100 && ctx.Err() == nil {
			time.Sleep(2 * time.Millisecond)
		}
		release := rcv.holdAttempt()
		procs[0].kill()
		release()
	}()
	err := second.run(ctx)
	<-killed
	if err != nil {
		t.Fatal(err)
	}
	admin = &api{t: t, base: procs[1].base, cred: key}
	awaitDeliveriesSettled(t, admin, 60*time.Second)
	received, overlaps, order = rcv.snapshot()
	checkAllReceived(t, admin, received)
	checkStoredInOrder(t, admin, second, order)
	if len(overlaps) > 0 {
		t.Errorf("%d times a webhook-id was being delivered twice at once, e.g. %s", len(overlaps), overlaps[0])
	}
	if strings.Contains(procs[1].stderr.String(), `"level":"ERROR"`) {
		t.Logf("replica B logged errors:\n%s", tail(procs[1].stderr.String(), 3000))
	}
	t.Logf("done in %v", time.Since(start).Round(time.Millisecond))
}
