// Media keys and the streaming body cipher: known answers computed outside
// this code (Python hmac/hashlib HKDF, openssl enc), streaming equivalence
// and every corruption the decryptor must catch.
#include <doctest/doctest.h>
#include <unistd.h>

#include <fstream>
#include <random>

#include "must.hpp"
#include "temp_dir.hpp"
#include "wa/media/media.hpp"

using namespace wa;
using namespace wa::media;
using wa::test::must;
using wa::test::must_ok;

namespace {

Bytes key_0_to_31() {
  Bytes k(32);
  for (size_t i = 0; i < k.size(); ++i) k[i] = static_cast<uint8_t>(i);
  return k;
}

Bytes random_bytes_seeded(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  Bytes b(n);
  for (auto& x : b) x = static_cast<uint8_t>(rng());
  return b;
}

FileHashes expected_of(const FileHashes& h) {
  FileHashes e;
  e.file_sha256 = h.file_sha256;
  e.file_enc_sha256 = h.file_enc_sha256;
  e.file_length = h.file_length;
  return e;
}

}  // namespace

TEST_CASE("kind names and wire tables") {
  CHECK(kind_from_name("ptt") == Kind::voice);
  CHECK(kind_from_name("voice") == Kind::voice);
  CHECK(kind_from_name("sticker") == Kind::sticker);
  CHECK_FALSE(kind_from_name("gif").has_value());
  for (Kind k : {Kind::image, Kind::video, Kind::audio, Kind::voice, Kind::document, Kind::sticker}) {
    CHECK(kind_from_name(kind_name(k)) == k);
  }
  CHECK(hkdf_info(Kind::sticker) == "WhatsApp Image Keys");
  CHECK(hkdf_info(Kind::voice) == "WhatsApp Audio Keys");
  CHECK(hkdf_info(Kind::video) == "WhatsApp Video Keys");
  CHECK(hkdf_info(Kind::document) == "WhatsApp Document Keys");
  CHECK(upload_path(Kind::sticker) == "/mms/image");
  CHECK(upload_path(Kind::voice) == "/mms/audio");
  CHECK(mms_type(Kind::sticker) == "sticker");
  CHECK(mms_type(Kind::voice) == "audio");
  CHECK(enc_mediatype(Kind::voice) == "ptt");
}

TEST_CASE("expand matches an independent HKDF") {
  const Bytes key = key_0_to_31();
  auto img = must(expand(key, Kind::image));
  CHECK(to_hex(img.iv) == "aa6a127218397cbd2383e4ccf7176a79");
  CHECK(to_hex(img.cipher_key) == "008c9aea9b7c5d81eb56b3f530f87d42dcc92d27b11ad6b5bd66f0560d0d8c46");
  CHECK(to_hex(img.mac_key) == "91d09ffec108833c1699574c52657923fb6e3e161d9698bc6b3a05fbc508a515");
  auto sticker = must(expand(key, Kind::sticker));
  CHECK(sticker.cipher_key == img.cipher_key);
  auto voice = must(expand(key, Kind::voice));
  CHECK(to_hex(voice.iv) == "13f8935709c20e2e8b0680f81b0dd5fb");
  CHECK(to_hex(voice.cipher_key) == "a61016c0347747b75bb8a8f6d7bcdb863ac5eb702662755054fe77db27b7c1c0");
  CHECK(to_hex(voice.mac_key) == "9ec93580944b6656b0babacf55026028ff6c68bb134a4fd082c12b5463a3bb79");
  CHECK(must(expand(key, Kind::audio)).mac_key == voice.mac_key);
  auto bad = expand(Bytes(31, 1), Kind::image);
  REQUIRE_FALSE(bad);
  CHECK(bad.error().code == "bad_key");
  CHECK(random_media_key().size() == 32);
  CHECK(random_media_key() != random_media_key());
}

TEST_CASE("encrypt matches openssl enc and an independent HMAC") {
  FileHashes h;
  Bytes body = must(encrypt(key_0_to_31(), Kind::document, as_bytes("hello media"), &h));
  CHECK(to_hex(body) == "bc1b241baa9de1d20276dcb22145d69ef6c95d6a7246265a3d89");
  CHECK(to_hex(h.file_enc_sha256) == "af6cda7a49a3f24ab1cc5a587007e1e07789948ef59dd18262ef736be9e83c36");
  CHECK(to_hex(h.file_sha256) == "d28d2954ff97ac68052c4beff8c84ad0960d1408540fc486256cdd7cd68dd1fe");
  CHECK(h.file_length == 11);
  CHECK(h.enc_length == body.size());
  Bytes plain = must(decrypt(key_0_to_31(), Kind::document, body, expected_of(h)));
  CHECK(as_chars(plain) == "hello media");
  // The same body under another kind's keys is refused.
  auto wrong_kind = decrypt(key_0_to_31(), Kind::image, body, expected_of(h));
  REQUIRE_FALSE(wrong_kind);
  CHECK(wrong_kind.error().code == "media_corrupt");
}

TEST_CASE("streaming in random chunk sizes gives the whole-buffer bytes") {
  const Bytes key = random_media_key();
  for (size_t size : {size_t{0}, size_t{1}, size_t{15}, size_t{16}, size_t{17}, size_t{100000}, kChunk * 3 + 5}) {
    const Bytes plain = random_bytes_seeded(size, static_cast<uint32_t>(size));
    FileHashes whole_h;
    const Bytes whole = must(encrypt(key, Kind::video, plain, &whole_h));
    CHECK(whole.size() == (size / 16 + 1) * 16 + kMacBytes);

    std::mt19937 rng(static_cast<uint32_t>(size) + 7);
    auto enc = must(Encryptor::create(key, Kind::video));
    Bytes streamed;
    size_t pos = 0;
    while (pos < plain.size()) {
      const size_t n = std::min(plain.size() - pos, static_cast<size_t>(rng() % 40000));
      must_ok(enc.update(ByteView(plain).subspan(pos, n), streamed));
      pos += n;
    }
    must_ok(enc.finish(streamed));
    CHECK(streamed == whole);
    CHECK(enc.hashes().file_sha256 == whole_h.file_sha256);
    CHECK(enc.hashes().file_enc_sha256 == whole_h.file_enc_sha256);
    CHECK(enc.hashes().file_length == size);
    CHECK(enc.hashes().enc_length == whole.size());
    Bytes extra;
    CHECK_FALSE(enc.update(as_bytes("x"), extra));

    // Decrypt in random pieces too, including pieces smaller than the MAC.
    auto dec = must(Decryptor::create(key, Kind::video, expected_of(whole_h)));
    Bytes back;
    pos = 0;
    while (pos < whole.size()) {
      const size_t n = std::min(whole.size() - pos, static_cast<size_t>(rng() % 3 == 0 ? rng() % 12 : rng() % 50000));
      must_ok(dec.update(ByteView(whole).subspan(pos, n), back));
      pos += n;
    }
    must_ok(dec.finish(back));
    CHECK(back == plain);
  }
}

TEST_CASE("decrypt catches every corruption") {
  const Bytes key = random_media_key();
  const Bytes plain = random_bytes_seeded(5000, 3);
  FileHashes h;
  const Bytes body = must(encrypt(key, Kind::image, plain, &h));
  const FileHashes exp = expected_of(h);
  auto code_of = [&](const Bytes& b, const FileHashes& e) {
    auto r = decrypt(key, Kind::image, b, e);
    return r ? std::string("ok") : r.error().code;
  };
  CHECK(code_of(body, exp) == "ok");

  Bytes flipped_ct = body;
  flipped_ct[100] ^= 0x01;
  CHECK(code_of(flipped_ct, exp) == "media_corrupt");
  FileHashes no_enc_hash = exp;
  no_enc_hash.file_enc_sha256.clear();
  CHECK(code_of(flipped_ct, no_enc_hash) == "media_corrupt");  // the MAC still catches it

  Bytes flipped_mac = body;
  flipped_mac[body.size() - 3] ^= 0x80;
  CHECK(code_of(flipped_mac, exp) == "media_corrupt");
  CHECK(code_of(flipped_mac, no_enc_hash) == "media_corrupt");

  Bytes truncated(body.begin(), body.end() - 1);
  CHECK(code_of(truncated, exp) == "media_corrupt");
  Bytes block_short(body.begin(), body.end() - 16);
  CHECK(code_of(block_short, no_enc_hash) == "media_corrupt");
  CHECK(code_of(Bytes(5, 0), FileHashes{}) == "media_corrupt");
  CHECK(code_of(Bytes{}, FileHashes{}) == "media_corrupt");

  FileHashes wrong_sha = exp;
  wrong_sha.file_sha256[0] ^= 1;
  CHECK(code_of(body, wrong_sha) == "media_corrupt");
  FileHashes wrong_len = exp;
  wrong_len.file_length += 1;
  CHECK(code_of(body, wrong_len) == "media_corrupt");
  // Nothing to compare against but the MAC: still fine.
  CHECK(code_of(body, FileHashes{}) == "ok");
}

TEST_CASE("hash_file equals the in-memory hashes") {
  wa::test::TempDir dir;
  const Bytes key = random_media_key();
  const Bytes plain = random_bytes_seeded(kChunk * 2 + 77, 9);
  {
    std::ofstream f(dir.file("a.bin"), std::ios::binary);
    f.write(reinterpret_cast<const char*>(plain.data()), static_cast<std::streamsize>(plain.size()));
  }
  FileHashes h;
  const Bytes body = must(encrypt(key, Kind::audio, plain, &h));
  auto fh = must(hash_file(dir.file("a.bin"), key, Kind::audio));
  CHECK(fh.file_sha256 == h.file_sha256);
  CHECK(fh.file_enc_sha256 == h.file_enc_sha256);
  CHECK(fh.file_length == plain.size());
  CHECK(fh.enc_length == body.size());
  auto missing = hash_file(dir.file("missing"), key, Kind::audio);
  REQUIRE_FALSE(missing);
  CHECK(missing.error().code == "io_error");
}
