# Test certificates for the secure Kafka broker (kafka-secure in kafka.sh) and the TLS test schema
# registries (schema.sh; a set of their own). Sourced, not run.
#
# certs_ensure DIR writes, once (a later call with the files present does nothing):
#   ca.pem, ca.key                 the test CA (trusted by the broker and the clients)
#   broker.pem, broker.key         the broker certificate, SAN IP:127.0.0.1 and DNS:localhost
#   broker.p12                     the same key and chain as a PKCS12 keystore (password in broker.p12.pass)
#   client.pem, client.key         a client certificate (CN=kafka-backup-client) signed by the CA, for mTLS
#   client-encrypted.key           the same client key, encrypted (passphrase in client-key.pass)
#   other-ca.pem, other-ca.key     a CA nobody trusts
#   other-client.pem, other-client.key  a client certificate signed by other-ca (the broker rejects it)
#
# Files are written to a temporary folder and moved into place at the end, so an interrupted
# run never leaves half a set behind.

# certs_sign NAME SUBJECT EXT_FILE CA_PREFIX DIR: key + certificate signed by CA_PREFIX.{pem,key}.
certs_sign() {
  local name=$1 subj=$2 ext=$3 ca=$4 dir=$5
  openssl req -new -newkey rsa:2048 -nodes -keyout "$dir/$name.key" -subj "$subj" -out "$dir/$name.csr" 2>/dev/null
  openssl x509 -req -in "$dir/$name.csr" -CA "$dir/$ca.pem" -CAkey "$dir/$ca.key" -CAcreateserial \
    -days 3650 -sha256 -extfile "$ext" -out "$dir/$name.pem" 2>/dev/null
  rm -f "$dir/$name.csr"
}

certs_ensure() {
  local dir=$1
  if [ -f "$dir/.complete" ]; then return 0; fi
  log "generating test CA and certificates in $dir"
  local tmp="$dir.tmp.$$"
  rm -rf "$tmp"
  mkdir -p "$tmp"
  local ca
  for ca in ca other-ca; do
    openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -sha256 -keyout "$tmp/$ca.key" -out "$tmp/$ca.pem" \
      -subj "/CN=kafka-backup test $ca" \
      -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
  done
  printf '%s\n' "basicConstraints=CA:FALSE" "keyUsage=critical,digitalSignature,keyEncipherment" \
    "extendedKeyUsage=serverAuth,clientAuth" "subjectAltName=IP:127.0.0.1,DNS:localhost" >"$tmp/server.ext"
  printf '%s\n' "basicConstraints=CA:FALSE" "keyUsage=critical,digitalSignature,keyEncipherment" \
    "extendedKeyUsage=clientAuth" >"$tmp/client.ext"
  certs_sign broker "/CN=localhost" "$tmp/server.ext" ca "$tmp"
  certs_sign client "/CN=kafka-backup-client" "$tmp/client.ext" ca "$tmp"
  certs_sign other-client "/CN=kafka-backup-intruder" "$tmp/client.ext" other-ca "$tmp"
  printf 'broker-store-secret' >"$tmp/broker.p12.pass"
  openssl pkcs12 -export -in "$tmp/broker.pem" -inkey "$tmp/broker.key" -certfile "$tmp/ca.pem" \
    -name broker -passout "pass:broker-store-secret" -out "$tmp/broker.p12"
  printf 'client-key-secret' >"$tmp/client-key.pass"
  openssl pkcs8 -topk8 -in "$tmp/client.key" -v2 aes-256-cbc -passout "pass:client-key-secret" \
    -out "$tmp/client-encrypted.key"
  rm -f "$tmp"/*.ext "$tmp"/*.srl
  chmod 600 "$tmp"/*.key "$tmp"/*.pass
  touch "$tmp/.complete"
  rm -rf "$dir"
  mv "$tmp" "$dir"
}
