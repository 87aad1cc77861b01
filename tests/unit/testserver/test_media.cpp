// The media pieces of wa-testserver without I/O: the media_conn answer, the
// test CA and its leaf, upload paths and tokens, direct paths, Range, auth
// tokens and the emulated phone's media retry crypto.
#include <doctest/doctest.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>

#include <fstream>
#include <set>
#include <sstream>

#include "dispatch.hpp"
#include "media.hpp"
#include "media_tls.hpp"
#include "temp_dir.hpp"
#include "wa/crypto/crypto.hpp"
#include "wa/proto/message.pb.h"

using namespace wa;
using namespace wa::testserver;
using binary::Node;

namespace {

std::string slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// Every certificate of a PEM file, in order.
std::vector<X509*> certs_of(const std::string& path) {
  std::string text = slurp(path);
  BIO* b = BIO_new_mem_buf(text.data(), static_cast<int>(text.size()));
  std::vector<X509*> out;
  while (X509* c = PEM_read_bio_X509(b, nullptr, nullptr, nullptr)) out.push_back(c);
  ERR_clear_error();
  BIO_free(b);
  return out;
}

unsigned mode_of(const std::string& path) {
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  return st.st_mode & 0777;
}

std::string b64url_nopad(ByteView b) {
  std::string s = to_base64(b);
  for (char& ch : s) ch = ch == '+' ? '-' : ch == '/' ? '_' : ch;
  while (!s.empty() && s.back() == '=') s.pop_back();
  return s;
}

}  // namespace

TEST_CASE("media_conn answer: the four attributes whatsmeow requires and the hosts in order") {
  Node n = media::media_conn_node("AUTH", 300, 600, 12, {{"127.0.0.1:4443", "primary"}, {"127.0.0.1:9", "fallback"}});
  CHECK(n.tag == "media_conn");
  CHECK(n.attr_or("auth", "") == "AUTH");
  CHECK(n.attr_or("ttl", "") == "300");
  CHECK(n.attr_or("auth_ttl", "") == "600");
  CHECK(n.attr_or("max_buckets", "") == "12");
  auto hosts = n.children("host");
  REQUIRE(hosts.size() == 2);
  CHECK(hosts[0]->attr_or("hostname", "") == "127.0.0.1:4443");
  CHECK(hosts[0]->attr_or("type", "") == "primary");
  CHECK(hosts[1]->attr_or("hostname", "") == "127.0.0.1:9");
  CHECK(hosts[1]->attr_or("type", "") == "fallback");
}

TEST_CASE("media_conn IQ (w:m) is routed after login only") {
  auto after = dispatch::route_iq("set", "w:m", true, false);
  REQUIRE(after.handler);
  CHECK(*after.handler == dispatch::Iq::media_conn);
  auto before = dispatch::route_iq("set", "w:m", false, false);
  CHECK_FALSE(before.handler);
  CHECK(before.error_code == 401);
}

TEST_CASE("media TLS: a P-256 test CA and a leaf for 127.0.0.1 and localhost that verifies against it, reused") {
  test::TempDir dir;
  auto files = media::ensure_tls(dir.path());
  REQUIRE(files);
  CHECK(mode_of(files->ca_cert) == 0644);
  CHECK(mode_of(files->ca_key) == 0600);
  CHECK(mode_of(files->leaf_key) == 0600);
  auto ca = certs_of(files->ca_cert);
  auto chain = certs_of(files->leaf_cert);
  REQUIRE(ca.size() == 1);
  REQUIRE(chain.size() == 2);  // leaf, then the CA
  X509* leaf = chain[0];
  CHECK(X509_check_ca(ca[0]) >= 1);
  CHECK(X509_check_ca(leaf) == 0);
  EVP_PKEY* ca_pub = X509_get0_pubkey(ca[0]);
  REQUIRE(ca_pub);
  CHECK(EVP_PKEY_is_a(ca_pub, "EC"));
  char group[64] = {0};
  size_t glen = 0;
  CHECK(EVP_PKEY_get_utf8_string_param(ca_pub, "group", group, sizeof group, &glen) == 1);
  CHECK(std::string(group) == "prime256v1");
  // The CA is self-signed; the leaf chains to it under a real verifier.
  CHECK(X509_verify(ca[0], ca_pub) == 1);
  X509_STORE* store = X509_STORE_new();
  X509_STORE_add_cert(store, ca[0]);
  X509_STORE_CTX* ctx = X509_STORE_CTX_new();
  X509_STORE_CTX_init(ctx, store, leaf, nullptr);
  X509_VERIFY_PARAM* vp = X509_STORE_CTX_get0_param(ctx);
  X509_VERIFY_PARAM_set1_ip_asc(vp, "127.0.0.1");
  X509_VERIFY_PARAM_set_purpose(vp, X509_PURPOSE_SSL_SERVER);
  CHECK_MESSAGE(X509_verify_cert(ctx) == 1, X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx)));
  X509_STORE_CTX_free(ctx);
  X509_STORE_free(store);
  // subjectAltName: IP:127.0.0.1 and DNS:localhost, nothing else matches.
  CHECK(X509_check_ip_asc(leaf, "127.0.0.1", 0) == 1);
  CHECK(X509_check_host(leaf, "localhost", 0, 0, nullptr) == 1);
  CHECK(X509_check_host(leaf, "example.com", 0, 0, nullptr) != 1);
  CHECK(X509_check_ip_asc(leaf, "10.0.0.1", 0) != 1);

  std::string ca_text = slurp(files->ca_cert), leaf_text = slurp(files->leaf_cert);
  auto again = media::ensure_tls(dir.path());
  REQUIRE(again);
  CHECK(slurp(again->ca_cert) == ca_text);
  CHECK(slurp(again->leaf_cert) == leaf_text);
  // A lost leaf is made again under the same CA.
  std::remove(files->leaf_key.c_str());
  REQUIRE(media::ensure_tls(dir.path()));
  CHECK(slurp(files->ca_cert) == ca_text);
  CHECK(slurp(files->leaf_cert) != leaf_text);
  for (X509* c : ca) X509_free(c);
  for (X509* c : chain) X509_free(c);
}

TEST_CASE("upload paths, tokens and direct paths") {
  auto t = media::parse_upload_path("/mms/image/abc_-DEF");
  REQUIRE(t);
  CHECK(t->type == "image");
  CHECK(t->token == "abc_-DEF");
  CHECK_FALSE(t->newsletter);
  for (const char* type : {"video", "audio", "document", "md-msg-hist", "md-app-state", "thumbnail-link", "sticker-pack"})
    CHECK_MESSAGE(media::parse_upload_path(std::string("/mms/") + type + "/tok"), type);
  auto nl = media::parse_upload_path("/newsletter/newsletter-image/tok");
  REQUIRE(nl);
  CHECK(nl->newsletter);
  CHECK_FALSE(media::parse_upload_path("/mms/bogus/tok"));
  CHECK_FALSE(media::parse_upload_path("/mms/image/"));
  CHECK_FALSE(media::parse_upload_path("/mms/image/a/b"));
  CHECK_FALSE(media::parse_upload_path("/v/t62.7118-24/x.enc"));

  auto sha = crypto::sha256(as_bytes("body"));
  std::string nopad = b64url_nopad(sha);
  CHECK(media::token_matches(nopad, sha));
  CHECK(media::token_matches(nopad + "=", sha));  // whatsmeow keeps the padding
  CHECK(media::b64url(sha, true) == nopad + "=");
  CHECK_FALSE(media::token_matches(b64url_nopad(crypto::sha256(as_bytes("other"))), sha));
  CHECK_FALSE(media::token_matches("", sha));
  CHECK(media::token_matches(nopad + "%3D", sha));
  CHECK(media::same_token("abc%3D", "abc="));
  CHECK(media::same_token("abc", "abc=="));
  CHECK_FALSE(media::same_token("abc", "abd"));

  std::set<std::string> seen;
  for (int i = 0; i < 50; ++i) {
    std::string dp = media::new_direct_path(0x6579AB12);
    CHECK(dp.rfind("/v/t62.7118-24/", 0) == 0);
    CHECK(dp.find(".enc?ccb=11-4&oh=") != std::string::npos);
    CHECK(dp.size() > 20);
    CHECK(dp.substr(dp.size() - 12) == "&oe=6579AB12");
    CHECK(media::path_of(dp) == dp.substr(0, dp.find('?')));
    seen.insert(std::string(media::path_of(dp)));
  }
  CHECK(seen.size() == 50);
}

TEST_CASE("Range headers") {
  media::ByteRange r;
  CHECK(media::parse_range("bytes=0-99", 1000, r) == media::RangeKind::single);
  CHECK((r.first == 0 && r.last == 99));
  CHECK(media::parse_range("bytes=900-", 1000, r) == media::RangeKind::single);
  CHECK((r.first == 900 && r.last == 999));
  CHECK(media::parse_range("bytes=-10", 1000, r) == media::RangeKind::single);
  CHECK((r.first == 990 && r.last == 999));
  CHECK(media::parse_range("bytes=990-5000", 1000, r) == media::RangeKind::single);
  CHECK(r.last == 999);
  CHECK(media::parse_range("bytes=1000-", 1000, r) == media::RangeKind::unsatisfiable);
  CHECK(media::parse_range("bytes=-0", 1000, r) == media::RangeKind::unsatisfiable);
  CHECK(media::parse_range("", 1000, r) == media::RangeKind::none);
  CHECK(media::parse_range("bytes=5-1", 1000, r) == media::RangeKind::none);
  CHECK(media::parse_range("bytes=0-1,5-9", 1000, r) == media::RangeKind::none);
  CHECK(media::parse_range("items=0-1", 1000, r) == media::RangeKind::none);
  CHECK(media::parse_range("bytes=x-1", 1000, r) == media::RangeKind::none);
}

TEST_CASE("upload auth tokens: per account, random, valid for their ttl") {
  media::Store s("/nonexistent");
  std::string a = s.issue_auth("155501", 1000, 60);
  std::string b = s.issue_auth("155502", 1000, 60);
  CHECK(a != b);
  CHECK(a.size() >= 24);
  CHECK(s.check_auth(a, 1000) == std::optional<std::string>("155501"));
  CHECK(s.check_auth(b, 1059) == std::optional<std::string>("155502"));
  CHECK_FALSE(s.check_auth(a, 1060));
  CHECK_FALSE(s.check_auth("unknown", 1000));
  CHECK_FALSE(s.check_auth("", 1000));
}

TEST_CASE("media retry: the notification built for a known key decrypts to the new direct path") {
  Bytes key = crypto::random_bytes(32);
  std::string id = "3EB0ABCDEF";
  auto sealed = media::seal_retry_notification(key, id, "/v/t62.7118-24/new.enc?ccb=11-4", media::RetryResult::success);
  REQUIRE(sealed);
  CHECK(sealed->iv.size() == 12);
  // Decrypted as a client does it: HKDF(mediaKey, info) -> AES-256-GCM, AAD = message id.
  Bytes rk = crypto::hkdf_sha256(key, {}, as_bytes("WhatsApp Media Retry Notification"), 32);
  auto plain = crypto::aes_gcm_decrypt(rk, sealed->iv, as_bytes(id), sealed->ciphertext);
  REQUIRE(plain);
  wa::proto::MediaRetryNotification n;
  REQUIRE(n.ParseFromArray(plain->data(), static_cast<int>(plain->size())));
  CHECK(n.stanzaid() == id);
  CHECK(n.directpath() == "/v/t62.7118-24/new.enc?ccb=11-4");
  CHECK(n.result() == wa::proto::MediaRetryNotification::SUCCESS);
  CHECK_FALSE(crypto::aes_gcm_decrypt(rk, sealed->iv, as_bytes("other-id"), sealed->ciphertext));

  // The client's request opens with the same key, and only with it.
  wa::proto::ServerErrorReceipt ser;
  ser.set_stanzaid(id);
  Bytes iv = crypto::random_bytes(12);
  auto ct = crypto::aes_gcm_encrypt(rk, iv, as_bytes(id), as_bytes(ser.SerializeAsString()));
  REQUIRE(ct);
  auto opened = media::open_server_error_receipt(key, id, *ct, iv);
  REQUIRE(opened);
  CHECK(*opened == id);
  CHECK_FALSE(media::open_server_error_receipt(crypto::random_bytes(32), id, *ct, iv));
  CHECK_FALSE(media::open_server_error_receipt(key, id, *ct, Bytes(11)));

  Node rmr("rmr", {{"jid", "155501@s.whatsapp.net"}, {"from_me", "false"}, {"participant", "155503@s.whatsapp.net"},
                   {"junk", "x"}});
  Node ok = media::mediaretry_notification(id, "155502@s.whatsapp.net", 1700000000, rmr, *sealed, 2);
  CHECK(ok.tag == "notification");
  CHECK(ok.attr_or("type", "") == "mediaretry");
  CHECK(ok.attr_or("id", "") == id);
  CHECK(ok.attr_or("t", "") == "1700000000");
  REQUIRE(ok.child("rmr"));
  CHECK(ok.child("rmr")->attr_or("participant", "") == "155503@s.whatsapp.net");
  CHECK_FALSE(ok.child("rmr")->has_attr("junk"));
  REQUIRE(ok.child("encrypt"));
  CHECK(*ok.child("encrypt")->child("enc_p")->bytes() == sealed->ciphertext);
  CHECK(*ok.child("encrypt")->child("enc_iv")->bytes() == sealed->iv);
  CHECK(ok.child("error") == nullptr);
  Node gone = media::mediaretry_notification(id, "155502@s.whatsapp.net", 1700000000, rmr, std::nullopt, 2);
  REQUIRE(gone.child("error"));
  CHECK(gone.child("error")->attr_or("code", "") == "2");
  CHECK(gone.child("encrypt") == nullptr);
}
