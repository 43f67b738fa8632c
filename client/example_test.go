package client_test

import (
	"context"
	"fmt"
	"log"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eventstore-go/eventstore"
	"github.com/eventstore-go/eventstore/client"
	"github.com/eventstore-go/eventstore/store/storetest"
)

// exampleServer is the URL of the eventstore server the examples call,
// started on first use on the embedded store.
var exampleServer = sync.OnceValue(func() string {
	return newServer(exampleTB{}, storetest.Backends()[0], serverConfig{}).URL
})

// exampleTB is the testing.TB that storetest's helpers want, for examples,
// which have none: a failure panics, which fails the example, and cleanups
// are dropped, since the test binary exits after the examples (and
// storetest.Main removes the embedded store). Other methods are not
// called.
type exampleTB struct{ testing.TB }

func (exampleTB) Helper()                           {}
func (exampleTB) Name() string                      { return "Example" }
func (exampleTB) Cleanup(func())                    {}
func (exampleTB) Fatal(args ...any)                 { panic(fmt.Sprint(args...)) }
func (exampleTB) Fatalf(format string, args ...any) { panic(fmt.Sprintf(format, args...)) }

func ExampleClient_Append() {
	ctx := context.Background()
	c, err := client.New(exampleServer(), client.WithVerify())
	if err != nil {
		log.Fatal(err)
	}
	if _, err := c.CreateContext(ctx, "room", "append-example", client.NewContext{O: map[string]string{"name": "Append"}}); err != nil {
		log.Fatal(err)
	}
	// A clid makes an append safe to retry: sent twice, it is stored once,
	// and the second answer is the first event.
	msg := client.NewEvent{T: "msg", O: map[string]string{"msg": "hello"}, Clid: "msg-7f3a9c"}
	first, created, err := c.Append(ctx, "room", "append-example", msg)
	if err != nil {
		log.Fatal(err)
	}
	again, createdAgain, err := c.Append(ctx, "room", "append-example", msg)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(created, createdAgain, again.ID == first.ID)

	// Errors carry the server's code.
	_, err = c.CreateContext(ctx, "room", "append-example", client.NewContext{})
	fmt.Println(eventstore.ErrorCode(err) == eventstore.EEXISTS, err)
	// Output:
	// true false true
	// true context_exists: context room/append-example already exists
}

func ExampleClient_Events() {
	ctx := context.Background()
	c, err := client.New(exampleServer(), client.WithVerify())
	if err != nil {
		log.Fatal(err)
	}
	if _, err := c.CreateContext(ctx, "room", "scroll-example", client.NewContext{O: map[string]string{"name": "Scroll"}}); err != nil {
		log.Fatal(err)
	}
	for _, text := range []string{"one", "two", "three", "four", "five"} {
		if _, _, err := c.Append(ctx, "room", "scroll-example", client.NewEvent{T: "msg", O: map[string]string{"msg": text}}); err != nil {
			log.Fatal(err)
		}
	}
	// Open the room at its newest events and scroll back to its genesis,
	// two events a page.
	for e, err := range c.Events(ctx, "room", "scroll-example", client.ListOptions{Dir: client.Backward, Limit: 2}) {
		if err != nil {
			log.Fatal(err)
		}
		var d struct{ Msg, Name string }
		if err := client.DecodeData(e.D, &d); err != nil {
			log.Fatal(err)
		}
		fmt.Println(e.T, strings.TrimSpace(d.Msg+d.Name))
	}
	// Output:
	// msg five
	// msg four
	// msg three
	// msg two
	// msg one
	// room Scroll
}

func ExampleClient_Follow() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := client.New(exampleServer(), client.WithVerify())
	if err != nil {
		log.Fatal(err)
	}
	if _, err := c.CreateContext(ctx, "room", "follow-example", client.NewContext{O: map[string]string{"name": "Follow"}}); err != nil {
		log.Fatal(err)
	}
	if _, _, err := c.Append(ctx, "room", "follow-example", client.NewEvent{T: "msg", O: map[string]string{"msg": "hello"}}); err != nil {
		log.Fatal(err)
	}
	// From the start: the history, then caught-up, then what comes live.
	// The client reconnects by itself; keep m.Cursor to resume later.
	for m, err := range c.Follow(ctx, "room", "follow-example", "start") {
		if err != nil {
			log.Fatal(err)
		}
		switch m.Kind {
		case client.KindEvent:
			var d struct{ Msg, Name string }
			if err := client.DecodeData(m.Event.D, &d); err != nil {
				log.Fatal(err)
			}
			fmt.Println(m.Event.T, d.Msg+d.Name)
			if d.Msg == "bye" {
				return
			}
		case client.KindCaughtUp:
			fmt.Println("caught up")
			if _, _, err := c.Append(ctx, "room", "follow-example", client.NewEvent{T: "msg", O: map[string]string{"msg": "bye"}}); err != nil {
				log.Fatal(err)
			}
		}
	}
	// Output:
	// room Follow
	// msg hello
	// caught up
	// msg bye
}
