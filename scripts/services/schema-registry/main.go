// kb-schema-registry serves franz-go's srfake, an in-memory implementation of the Confluent
// Schema Registry REST API, on a TCP port: the test registry of scripts/services/schema.sh.
//
//	kb-schema-registry -listen 127.0.0.1:18081
//
// One test-only route is added, outside the Confluent API: POST /_kb/reset replaces the whole
// registry with an empty one. Hard deletes through the REST API remove subjects but never reset
// the id counter, and tests that need "a fresh target whose ids start at 1" (ids colliding with
// the source's) need exactly that. Everything else is srfake's Handler() unchanged.
package main

import (
	"flag"
	"log"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/sr/srfake"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:18081", "address to listen on")
	flag.Parse()

	var current atomic.Pointer[srfake.Registry]
	current.Store(srfake.NewRegistry())

	mux := http.NewServeMux()
	mux.HandleFunc("POST /_kb/reset", func(w http.ResponseWriter, _ *http.Request) {
		current.Store(srfake.NewRegistry())
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte("{\"reset\":true}\n"))
	})
	mux.Handle("/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		current.Load().Handler().ServeHTTP(w, r)
	}))

	srv := &http.Server{Addr: *listen, Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	log.Printf("kb-schema-registry (srfake) listening on %s", *listen)
	log.Fatal(srv.ListenAndServe())
}
