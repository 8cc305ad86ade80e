// kb-schema-registry serves franz-go's srfake, an in-memory implementation of the Confluent
// Schema Registry REST API, on a TCP port: the test registry of scripts/services/schema.sh.
//
//	kb-schema-registry -listen 127.0.0.1:18081
//	kb-schema-registry -listen 127.0.0.1:18084 -tls-cert server.pem -tls-key server.key
//	kb-schema-registry -listen 127.0.0.1:18085 -tls-cert server.pem -tls-key server.key -client-ca ca.pem
//
// With -tls-cert and -tls-key it serves HTTPS; with -client-ca as well, every client must
// present a certificate signed by that CA (mTLS), or the handshake fails.
//
// One test-only route is added, outside the Confluent API: POST /_kb/reset replaces the whole
// registry with an empty one. Hard deletes through the REST API remove subjects but never reset
// the id counter, and tests that need "a fresh target whose ids start at 1" (ids colliding with
// the source's) need exactly that. Everything else is srfake's Handler() unchanged.
package main

import (
	"crypto/tls"
	"crypto/x509"
	"flag"
	"log"
	"net/http"
	"os"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/sr/srfake"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:18081", "address to listen on")
	certFile := flag.String("tls-cert", "", "PEM server certificate (chain): serve HTTPS")
	keyFile := flag.String("tls-key", "", "PEM private key of -tls-cert")
	clientCA := flag.String("client-ca", "", "PEM CA that must have signed every client's certificate (mTLS); needs -tls-cert")
	flag.Parse()
	if (*certFile == "") != (*keyFile == "") || (*clientCA != "" && *certFile == "") {
		log.Fatal("-tls-cert and -tls-key go together, and -client-ca needs them")
	}

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
	if *certFile == "" {
		log.Printf("kb-schema-registry (srfake) listening on http://%s", *listen)
		log.Fatal(srv.ListenAndServe())
	}
	srv.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	mode := "TLS"
	if *clientCA != "" {
		pem, err := os.ReadFile(*clientCA)
		if err != nil {
			log.Fatalf("reading -client-ca: %v", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			log.Fatalf("-client-ca %s holds no PEM certificate", *clientCA)
		}
		srv.TLSConfig.ClientCAs = pool
		srv.TLSConfig.ClientAuth = tls.RequireAndVerifyClientCert
		mode = "mTLS"
	}
	log.Printf("kb-schema-registry (srfake) listening on https://%s (%s)", *listen, mode)
	log.Fatal(srv.ListenAndServeTLS(*certFile, *keyFile))
}
