// Media body encryption: AES-256-CBC/PKCS7 then a 10-byte truncated
// HMAC-SHA256 over iv || ciphertext, computed in one streaming pass together
// with the two SHA-256 digests a media message carries. OpenSSL EVP directly:
// wa_crypto's helpers are one-shot and a file may not fit in memory.
#include <fcntl.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "wa/crypto/crypto.hpp"
#include "wa/media/media.hpp"

namespace wa::media {

namespace {

struct CipherFree {
  void operator()(EVP_CIPHER_CTX* c) const noexcept { EVP_CIPHER_CTX_free(c); }
};
struct MdFree {
  void operator()(EVP_MD_CTX* c) const noexcept { EVP_MD_CTX_free(c); }
};
struct MacFree {
  void operator()(EVP_MAC_CTX* c) const noexcept { EVP_MAC_CTX_free(c); }
};
struct MacAlgFree {
  void operator()(EVP_MAC* m) const noexcept { EVP_MAC_free(m); }
};
using CipherCtx = std::unique_ptr<EVP_CIPHER_CTX, CipherFree>;
using MdCtx = std::unique_ptr<EVP_MD_CTX, MdFree>;
using MacCtx = std::unique_ptr<EVP_MAC_CTX, MacFree>;

// Incremental SHA-256.
class Sha256 {
 public:
  bool init() {
    ctx_.reset(EVP_MD_CTX_new());
    return ctx_ && EVP_DigestInit_ex(ctx_.get(), EVP_sha256(), nullptr) == 1;
  }
  bool update(ByteView b) { return b.empty() || EVP_DigestUpdate(ctx_.get(), b.data(), b.size()) == 1; }
  bool final(Bytes& out) {
    out.assign(32, 0);
    unsigned int n = 0;
    return EVP_DigestFinal_ex(ctx_.get(), out.data(), &n) == 1 && n == 32;
  }

 private:
  MdCtx ctx_;
};

// Incremental HMAC-SHA256 (EVP_MAC: the HMAC_* functions are deprecated in OpenSSL 3).
class HmacSha256 {
 public:
  bool init(ByteView key) {
    std::unique_ptr<EVP_MAC, MacAlgFree> mac(EVP_MAC_fetch(nullptr, "HMAC", nullptr));
    if (!mac) return false;
    ctx_.reset(EVP_MAC_CTX_new(mac.get()));
    if (!ctx_) return false;
    char digest[] = "SHA256";
    OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0), OSSL_PARAM_construct_end()};
    return EVP_MAC_init(ctx_.get(), key.data(), key.size(), params) == 1;
  }
  bool update(ByteView b) { return b.empty() || EVP_MAC_update(ctx_.get(), b.data(), b.size()) == 1; }
  bool final(Bytes& out) {
    out.assign(32, 0);
    size_t n = 0;
    return EVP_MAC_final(ctx_.get(), out.data(), &n, out.size()) == 1 && n == 32;
  }

 private:
  MacCtx ctx_;
};

Status crypto_error(const char* what) { return fail("crypto_error", what); }

// Starts an AES-256-CBC context and an HMAC keyed for `media_key`.
Status start(ByteView media_key, Kind k, bool encrypt, CipherCtx& aes, HmacSha256& mac) {
  auto keys = expand(media_key, k);
  if (!keys) return Unexpected<Error>{keys.error()};
  aes.reset(EVP_CIPHER_CTX_new());
  if (!aes) return crypto_error("cipher context");
  const int ok = encrypt ? EVP_EncryptInit_ex(aes.get(), EVP_aes_256_cbc(), nullptr, keys->cipher_key.data(), keys->iv.data())
                         : EVP_DecryptInit_ex(aes.get(), EVP_aes_256_cbc(), nullptr, keys->cipher_key.data(), keys->iv.data());
  if (ok != 1) return crypto_error("cipher init");
  if (!mac.init(keys->mac_key) || !mac.update(keys->iv)) return crypto_error("hmac init");
  return {};
}

}  // namespace

// ---- Encryptor ----

struct Encryptor::Impl {
  CipherCtx aes;
  HmacSha256 mac;
  Sha256 sha_plain, sha_enc;
  FileHashes hashes;
  bool finished = false;

  // Appends the ciphertext `n` bytes at out[from..] to the MAC and the body hash.
  bool absorb(const Bytes& out, size_t from, size_t n) {
    const ByteView ct(out.data() + from, n);
    hashes.enc_length += n;
    return mac.update(ct) && sha_enc.update(ct);
  }
};

Encryptor::Encryptor(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Encryptor::Encryptor(Encryptor&&) noexcept = default;
Encryptor& Encryptor::operator=(Encryptor&&) noexcept = default;
Encryptor::~Encryptor() = default;

Result<Encryptor> Encryptor::create(ByteView media_key, Kind k) {
  auto impl = std::make_unique<Impl>();
  WA_TRY(start(media_key, k, true, impl->aes, impl->mac));
  if (!impl->sha_plain.init() || !impl->sha_enc.init()) return fail("crypto_error", "sha256 init");
  return Encryptor(std::move(impl));
}

Status Encryptor::update(ByteView plain, Bytes& out) {
  if (!impl_ || impl_->finished) return fail("bad_state", "encryptor already finished");
  if (plain.empty()) return {};
  if (!impl_->sha_plain.update(plain)) return crypto_error("sha256");
  impl_->hashes.file_length += plain.size();
  // EVP processes int-sized pieces; kChunk-sized calls are the norm.
  while (!plain.empty()) {
    const size_t piece = std::min<size_t>(plain.size(), size_t{1} << 30);
    const size_t from = out.size();
    out.resize(from + piece + 16);
    int n = 0;
    if (EVP_EncryptUpdate(impl_->aes.get(), out.data() + from, &n, plain.data(), static_cast<int>(piece)) != 1) {
      out.resize(from);
      return crypto_error("aes-cbc");
    }
    out.resize(from + static_cast<size_t>(n));
    if (!impl_->absorb(out, from, static_cast<size_t>(n))) return crypto_error("hmac");
    plain = plain.subspan(piece);
  }
  return {};
}

Status Encryptor::finish(Bytes& out) {
  if (!impl_ || impl_->finished) return fail("bad_state", "encryptor already finished");
  impl_->finished = true;
  const size_t from = out.size();
  out.resize(from + 16);
  int n = 0;
  if (EVP_EncryptFinal_ex(impl_->aes.get(), out.data() + from, &n) != 1) {
    out.resize(from);
    return crypto_error("aes-cbc final");
  }
  out.resize(from + static_cast<size_t>(n));
  if (!impl_->absorb(out, from, static_cast<size_t>(n))) return crypto_error("hmac");
  Bytes full;
  if (!impl_->mac.final(full)) return crypto_error("hmac final");
  const ByteView mac(full.data(), kMacBytes);
  out.insert(out.end(), mac.begin(), mac.end());
  impl_->hashes.enc_length += kMacBytes;
  if (!impl_->sha_enc.update(mac)) return crypto_error("sha256");
  if (!impl_->sha_plain.final(impl_->hashes.file_sha256) || !impl_->sha_enc.final(impl_->hashes.file_enc_sha256)) {
    return crypto_error("sha256 final");
  }
  return {};
}

const FileHashes& Encryptor::hashes() const {
  static const FileHashes empty;
  return impl_ ? impl_->hashes : empty;
}

// ---- Decryptor ----

struct Decryptor::Impl {
  CipherCtx aes;
  HmacSha256 mac;
  Sha256 sha_plain, sha_enc;
  FileHashes expected;
  Bytes tail;  // the last (at most kMacBytes) body bytes seen: the MAC if the body ends here
  uint64_t ct_length = 0, plain_length = 0;
  bool finished = false;

  Status ciphertext(ByteView ct, Bytes& out) {
    if (ct.empty()) return {};
    if (!mac.update(ct) || !sha_enc.update(ct)) return crypto_error("hmac");
    ct_length += ct.size();
    while (!ct.empty()) {
      const size_t piece = std::min<size_t>(ct.size(), size_t{1} << 30);
      const size_t from = out.size();
      out.resize(from + piece + 16);
      int n = 0;
      if (EVP_DecryptUpdate(aes.get(), out.data() + from, &n, ct.data(), static_cast<int>(piece)) != 1) {
        out.resize(from);
        return crypto_error("aes-cbc");
      }
      out.resize(from + static_cast<size_t>(n));
      if (!sha_plain.update(ByteView(out.data() + from, static_cast<size_t>(n)))) return crypto_error("sha256");
      plain_length += static_cast<size_t>(n);
      ct = ct.subspan(piece);
    }
    return {};
  }
};

Decryptor::Decryptor(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Decryptor::Decryptor(Decryptor&&) noexcept = default;
Decryptor& Decryptor::operator=(Decryptor&&) noexcept = default;
Decryptor::~Decryptor() = default;

Result<Decryptor> Decryptor::create(ByteView media_key, Kind k, FileHashes expected) {
  auto impl = std::make_unique<Impl>();
  WA_TRY(start(media_key, k, false, impl->aes, impl->mac));
  if (!impl->sha_plain.init() || !impl->sha_enc.init()) return fail("crypto_error", "sha256 init");
  impl->expected = std::move(expected);
  return Decryptor(std::move(impl));
}

Status Decryptor::update(ByteView body, Bytes& out) {
  if (!impl_ || impl_->finished) return fail("bad_state", "decryptor already finished");
  Bytes& tail = impl_->tail;
  if (body.size() >= kMacBytes) {
    // Everything held back so far is ciphertext: at least kMacBytes follow it.
    Bytes held;
    held.swap(tail);
    WA_TRY(impl_->ciphertext(held, out));
    WA_TRY(impl_->ciphertext(body.first(body.size() - kMacBytes), out));
    tail.assign(body.end() - static_cast<std::ptrdiff_t>(kMacBytes), body.end());
    return {};
  }
  tail.insert(tail.end(), body.begin(), body.end());
  if (tail.size() > kMacBytes) {
    const size_t spill = tail.size() - kMacBytes;
    const Bytes ct(tail.begin(), tail.begin() + static_cast<std::ptrdiff_t>(spill));
    tail.erase(tail.begin(), tail.begin() + static_cast<std::ptrdiff_t>(spill));
    WA_TRY(impl_->ciphertext(ct, out));
  }
  return {};
}

Status Decryptor::finish(Bytes& out) {
  if (!impl_ || impl_->finished) return fail("bad_state", "decryptor already finished");
  Impl& d = *impl_;
  d.finished = true;
  if (d.tail.size() != kMacBytes || d.ct_length == 0 || d.ct_length % 16 != 0) {
    return fail("media_corrupt", "the body is not whole AES blocks plus a MAC");
  }
  if (!d.sha_enc.update(d.tail)) return crypto_error("sha256");
  Bytes enc_sha, full_mac;
  if (!d.sha_enc.final(enc_sha) || !d.mac.final(full_mac)) return crypto_error("digest final");
  if (!d.expected.file_enc_sha256.empty() && !crypto::equal_ct(enc_sha, d.expected.file_enc_sha256)) {
    return fail("media_corrupt", "fileEncSha256 mismatch");
  }
  if (!crypto::equal_ct(ByteView(full_mac.data(), kMacBytes), d.tail)) return fail("media_corrupt", "MAC mismatch");
  const size_t from = out.size();
  out.resize(from + 16);
  int n = 0;
  if (EVP_DecryptFinal_ex(d.aes.get(), out.data() + from, &n) != 1) {
    out.resize(from);
    return fail("media_corrupt", "bad padding");
  }
  out.resize(from + static_cast<size_t>(n));
  if (!d.sha_plain.update(ByteView(out.data() + from, static_cast<size_t>(n)))) return crypto_error("sha256");
  d.plain_length += static_cast<size_t>(n);
  Bytes plain_sha;
  if (!d.sha_plain.final(plain_sha)) return crypto_error("sha256 final");
  if (!d.expected.file_sha256.empty() && !crypto::equal_ct(plain_sha, d.expected.file_sha256)) {
    return fail("media_corrupt", "fileSha256 mismatch");
  }
  if (d.expected.file_length != 0 && d.expected.file_length != d.plain_length) {
    return fail("media_corrupt", "fileLength mismatch");
  }
  return {};
}

// ---- whole-buffer forms ----

Result<Bytes> encrypt(ByteView media_key, Kind k, ByteView plain, FileHashes* hashes) {
  auto enc = Encryptor::create(media_key, k);
  if (!enc) return Unexpected<Error>{enc.error()};
  Bytes out;
  out.reserve(plain.size() + 16 + kMacBytes);
  WA_TRY(enc->update(plain, out));
  WA_TRY(enc->finish(out));
  if (hashes) *hashes = enc->hashes();
  return out;
}

Result<Bytes> decrypt(ByteView media_key, Kind k, ByteView body, const FileHashes& expected) {
  auto dec = Decryptor::create(media_key, k, expected);
  if (!dec) return Unexpected<Error>{dec.error()};
  Bytes out;
  out.reserve(body.size());
  WA_TRY(dec->update(body, out));
  WA_TRY(dec->finish(out));
  return out;
}

Result<FileHashes> hash_file(const std::string& path, ByteView media_key, Kind k) {
  auto enc = Encryptor::create(media_key, k);
  if (!enc) return Unexpected<Error>{enc.error()};
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return fail("io_error", "cannot open " + path + ": " + std::strerror(errno));
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  Bytes buf(kChunk), sink;
  sink.reserve(kChunk + 16 + kMacBytes);
  for (;;) {
    const ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail("io_error", "cannot read " + path + ": " + std::strerror(errno));
    }
    if (n == 0) break;
    sink.clear();
    WA_TRY(enc->update(ByteView(buf.data(), static_cast<size_t>(n)), sink));
  }
  sink.clear();
  WA_TRY(enc->finish(sink));
  return enc->hashes();
}

}  // namespace wa::media
