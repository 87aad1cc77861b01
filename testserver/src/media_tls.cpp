#include "media_tls.hpp"

#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <memory>

#include "wa/fs.hpp"

namespace wa::testserver::media {

namespace {

struct Free {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
  void operator()(X509* p) const { X509_free(p); }
  void operator()(BIO* p) const { BIO_free(p); }
  void operator()(BIGNUM* p) const { BN_free(p); }
  void operator()(X509_EXTENSION* p) const { X509_EXTENSION_free(p); }
};
using Key = std::unique_ptr<EVP_PKEY, Free>;
using Cert = std::unique_ptr<X509, Free>;
using Bio = std::unique_ptr<BIO, Free>;

constexpr long kCaDays = 20 * 365;
constexpr long kLeafDays = 10 * 365;
constexpr long kRenewBeforeDays = 30;  // a leaf this close to its end is replaced

std::string bio_text(BIO* b) {
  char* data = nullptr;
  long n = BIO_get_mem_data(b, &data);
  return n > 0 ? std::string(data, static_cast<size_t>(n)) : std::string();
}

std::string pem_of(X509* c) {
  Bio b(BIO_new(BIO_s_mem()));
  if (!b || PEM_write_bio_X509(b.get(), c) != 1) return {};
  return bio_text(b.get());
}

std::string pem_of(EVP_PKEY* k) {
  Bio b(BIO_new(BIO_s_mem()));
  if (!b || PEM_write_bio_PrivateKey(b.get(), k, nullptr, nullptr, 0, nullptr, nullptr) != 1) return {};
  return bio_text(b.get());
}

Cert load_cert(const std::string& path) {
  auto text = fs::read_file(path, 1 << 20);
  if (!text) return nullptr;
  Bio b(BIO_new_mem_buf(text->data(), static_cast<int>(text->size())));
  return Cert(b ? PEM_read_bio_X509(b.get(), nullptr, nullptr, nullptr) : nullptr);
}

Key load_key(const std::string& path) {
  auto text = fs::read_file(path, 1 << 20);
  if (!text) return nullptr;
  Bio b(BIO_new_mem_buf(text->data(), static_cast<int>(text->size())));
  return Key(b ? PEM_read_bio_PrivateKey(b.get(), nullptr, nullptr, nullptr) : nullptr);
}

bool add_ext(X509* cert, X509* issuer, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  std::unique_ptr<X509_EXTENSION, Free> ex(X509V3_EXT_conf_nid(nullptr, &ctx, nid, value));
  return ex && X509_add_ext(cert, ex.get(), -1) == 1;
}

// A certificate for `key`, signed by issuer_key (issuer == nullptr: self-signed).
Cert make_cert(EVP_PKEY* key, const char* cn, long days, X509* issuer, EVP_PKEY* issuer_key, bool ca) {
  Cert c(X509_new());
  if (!c || X509_set_version(c.get(), 2) != 1) return nullptr;
  unsigned char serial[16];
  if (RAND_bytes(serial, sizeof serial) != 1) return nullptr;
  serial[0] &= 0x7f;  // positive
  std::unique_ptr<BIGNUM, Free> bn(BN_bin2bn(serial, sizeof serial, nullptr));
  if (!bn || !BN_to_ASN1_INTEGER(bn.get(), X509_get_serialNumber(c.get()))) return nullptr;
  // A little in the past: clocks of test machines and containers disagree.
  if (!X509_gmtime_adj(X509_getm_notBefore(c.get()), -3600) ||
      !X509_gmtime_adj(X509_getm_notAfter(c.get()), days * 24 * 3600))
    return nullptr;
  X509_NAME* name = X509_get_subject_name(c.get());
  X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("wa-testserver"), -1, -1, 0);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(cn), -1, -1, 0);
  X509* iss = issuer ? issuer : c.get();
  if (X509_set_issuer_name(c.get(), X509_get_subject_name(iss)) != 1) return nullptr;
  if (X509_set_pubkey(c.get(), key) != 1) return nullptr;
  bool ok = add_ext(c.get(), iss, NID_subject_key_identifier, "hash");
  if (ca) {
    ok = ok && add_ext(c.get(), iss, NID_basic_constraints, "critical,CA:TRUE") &&
         add_ext(c.get(), iss, NID_key_usage, "critical,keyCertSign,cRLSign");
  } else {
    ok = ok && add_ext(c.get(), iss, NID_basic_constraints, "critical,CA:FALSE") &&
         add_ext(c.get(), iss, NID_key_usage, "critical,digitalSignature") &&
         add_ext(c.get(), iss, NID_ext_key_usage, "serverAuth") &&
         add_ext(c.get(), iss, NID_subject_alt_name, "IP:127.0.0.1,DNS:localhost") &&
         add_ext(c.get(), iss, NID_authority_key_identifier, "keyid:always");
  }
  if (!ok) return nullptr;
  if (X509_sign(c.get(), issuer_key ? issuer_key : key, EVP_sha256()) <= 0) return nullptr;
  return c;
}

bool still_valid(X509* c, long days_ahead) {
  time_t t = std::time(nullptr) + days_ahead * 24 * 3600;
  return X509_cmp_time(X509_get0_notAfter(c), &t) > 0;
}

Status write(const std::string& path, const std::string& text, mode_t mode) {
  if (text.empty()) return fail("tls_failed", "cannot encode " + path);
  WA_TRY(fs::write_file_atomic(path, text));
  if (::chmod(path.c_str(), mode) != 0) return fail("tls_failed", "cannot chmod " + path);
  return {};
}

}  // namespace

TlsFiles tls_files(const std::string& dir) {
  return {dir + "/media-ca.pem", dir + "/media-ca.key", dir + "/media-leaf.pem", dir + "/media-leaf.key",
          dir + "/media-ca.d"};
}

Result<TlsFiles> ensure_tls(const std::string& dir) {
  TlsFiles f = tls_files(dir);
  Cert ca = load_cert(f.ca_cert);
  Key ca_key = load_key(f.ca_key);
  bool ca_ok = ca && ca_key && X509_check_private_key(ca.get(), ca_key.get()) == 1 && still_valid(ca.get(), kRenewBeforeDays);
  if (!ca_ok) {
    ca_key.reset(EVP_EC_gen("P-256"));
    if (!ca_key) return fail("tls_failed", "cannot generate the media CA key");
    ca = make_cert(ca_key.get(), "wa-testserver media test CA", kCaDays, nullptr, nullptr, true);
    if (!ca) return fail("tls_failed", "cannot make the media CA certificate");
    WA_TRY(write(f.ca_key, pem_of(ca_key.get()), 0600));
    WA_TRY(write(f.ca_cert, pem_of(ca.get()), 0644));
  }
  Cert leaf = load_cert(f.leaf_cert);
  Key leaf_key = load_key(f.leaf_key);
  EVP_PKEY* ca_pub = X509_get0_pubkey(ca.get());
  bool leaf_ok = ca_ok && leaf && leaf_key && X509_check_private_key(leaf.get(), leaf_key.get()) == 1 &&
                 ca_pub && X509_verify(leaf.get(), ca_pub) == 1 && still_valid(leaf.get(), kRenewBeforeDays);
  if (!leaf_ok) {
    leaf_key.reset(EVP_EC_gen("P-256"));
    if (!leaf_key) return fail("tls_failed", "cannot generate the media host key");
    leaf = make_cert(leaf_key.get(), "127.0.0.1", kLeafDays, ca.get(), ca_key.get(), false);
    if (!leaf) return fail("tls_failed", "cannot make the media host certificate");
    WA_TRY(write(f.leaf_key, pem_of(leaf_key.get()), 0600));
    WA_TRY(write(f.leaf_cert, pem_of(leaf.get()) + pem_of(ca.get()), 0600));
  }
  // Rewritten at every start: a renewed CA keeps its subject, so its name.
  if (::mkdir(f.ca_dir.c_str(), 0755) != 0 && errno != EEXIST)
    return fail("tls_failed", "cannot create " + f.ca_dir + ": " + std::strerror(errno));
  char hashed[16];
  std::snprintf(hashed, sizeof hashed, "%08lx.0", X509_subject_name_hash(ca.get()));
  WA_TRY(write(f.ca_dir + "/" + hashed, pem_of(ca.get()), 0644));
  return f;
}

}  // namespace wa::testserver::media
