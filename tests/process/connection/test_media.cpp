// Media end to end between two of our accounts on the local server, which
// is also the media host (issue 13, docs/PROTOCOL.md §12.3): every kind both
// ways with the bytes compared, a large file streamed, auto-download, the
// media retry after expiry, a corrupted file, a slow host that must not
// stall the account, and the refusals.
#include <doctest/doctest.h>
#include <openssl/evp.h>

#include <atomic>
#include <fstream>
#include <thread>

#include "wa/bytes.hpp"
#include "wa/crypto_random.hpp"
#include "wa/message/media.hpp"
#include "wa/store/sqlite_store.hpp"
#include "wa_server.hpp"

using namespace harness;

namespace {

constexpr auto kWait = 30s;

// Files for each kind, made by FFmpeg's command-line tool (a test fixture;
// the product reads them with the libraries).
struct Fixtures {
  TempDir dir;
  std::string root;
  std::map<std::string, std::string> file;  // kind -> path

  Fixtures() : root(dir.path() + "/outbox") {
    REQUIRE(std::filesystem::create_directories(root));
    auto ffmpeg = [&](std::vector<std::string> args, const std::string& out) {
      std::vector<std::string> argv{"/usr/bin/ffmpeg", "-nostdin", "-loglevel", "error", "-y"};
      argv.insert(argv.end(), args.begin(), args.end());
      argv.push_back(out);
      auto [rc, log] = run_program(argv, dir.path() + "/ffmpeg.log", 60s);
      INFO(log);
      REQUIRE(rc == 0);
      return out;
    };
    file["image"] = ffmpeg({"-f", "lavfi", "-i", "testsrc=size=320x240", "-frames:v", "1"}, root + "/photo.jpg");
    file["video"] = ffmpeg({"-f", "lavfi", "-i", "testsrc=size=160x120:rate=10", "-t", "2", "-pix_fmt", "yuv420p"},
                           root + "/clip.mp4");
    file["audio"] = ffmpeg({"-f", "lavfi", "-i", "sine=frequency=440:duration=2"}, root + "/song.mp3");
    file["voice"] =
        ffmpeg({"-f", "lavfi", "-i", "sine=frequency=300:duration=3", "-c:a", "libopus"}, root + "/note.ogg");
    file["sticker"] = ffmpeg({"-f", "lavfi", "-i", "testsrc=size=512x512", "-frames:v", "1"}, root + "/sticker.webp");
    file["document"] = root + "/report.bin";
    std::ofstream(file["document"], std::ios::binary) << wa::random_hex(20000);
  }
};

std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

json media_config(const std::string& root, json media = json::object()) {
  media["allowed_roots"] = json::array({root});
  return json{{"media", media}};
}

json send_media(const Supervisor& sup, const std::string& profile, const std::string& to, const std::string& path,
                json extra = json::object(), int timeout_ms = 120000) {
  json req{{"cmd", "send_media"}, {"profile", profile}, {"to", to}, {"path", path}, {"client_id", wa::random_hex(8)}};
  req.merge_patch(extra);
  return sup.call(req, timeout_ms);
}

json download(const Supervisor& sup, const std::string& profile, const std::string& id, json extra = json::object(),
              int timeout_ms = 120000) {
  json req{{"cmd", "download"}, {"profile", profile}, {"id", id}};
  req.merge_patch(extra);
  return sup.call(req, timeout_ms);
}

json ok_result(const json& r) {
  INFO(r.dump());
  REQUIRE(r.value("ok", false));
  return r["result"];
}

json wait_media(EventLog& ev, const std::string& profile, const std::string& id) {
  return wait_message_with(ev, profile, "id", id, kWait);
}

std::string sha256_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
  EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr);
  std::vector<char> buf(1 << 16);
  while (in.read(buf.data(), static_cast<std::streamsize>(buf.size())) || in.gcount() > 0)
    EVP_DigestUpdate(ctx.get(), buf.data(), static_cast<size_t>(in.gcount()));
  unsigned char md[32];
  unsigned int n = 0;
  EVP_DigestFinal_ex(ctx.get(), md, &n);
  return wa::to_hex(wa::ByteView(md, n));
}

// The sender's copy of a message it sent (its sent cache): what the phone
// of a real account would know of it.
wa::message::MediaFields sent_media(const Supervisor& sup, const std::string& profile, const std::string& id,
                                    const std::string& chat) {
  auto st = wa::store::open_sqlite(sup.data_dir() + "/" + profile + "/store.db");
  REQUIRE(st.has_value());
  auto sent = (*st)->sent_get(id, chat);
  REQUIRE(sent.has_value());
  REQUIRE(sent->has_value());
  auto m = wa::message::find_media((*sent)->plaintext);
  REQUIRE(m.has_value());
  return *m;
}

}  // namespace

TEST_CASE("media: each of the six kinds goes both ways, events describe it, downloads give the same bytes") {
  Fixtures fx;
  TwoAccounts t("mda", "15550000401", "mdb", "15550000402", media_config(fx.root));
  const std::string a = user_jid("15550000401"), b = user_jid("15550000402");
  for (const auto& way : {std::tuple{"mda", b, "mdb"}, std::tuple{"mdb", a, "mda"}}) {
    const std::string from = std::get<0>(way), to = std::get<1>(way), reader = std::get<2>(way);
    for (const auto& entry : fx.file) {
      const std::string& kind = entry.first;
      const std::string& path = entry.second;
      CAPTURE(from);
      CAPTURE(kind);
      json extra{{"type", kind}};
      if (kind == "image") extra["caption"] = "a caption";
      json sent = ok_result(send_media(t.sup, from, to, path, extra));
      CHECK(sent["media"]["type"] == kind);
      CHECK(sent["media"]["size"] == std::filesystem::file_size(path));
      json ev = wait_media(t.ev, reader, sent["id"]);
      REQUIRE(ev.is_object());
      CHECK(ev["msg_type"] == kind);
      CHECK(ev["size"] == std::filesystem::file_size(path));
      CHECK(ev["media"]["id"] == sent["id"]);
      // Never the keys or the raw message in the event log.
      CHECK_FALSE(ev.contains("protobuf"));
      CHECK(ev.dump().find("mediaKey") == std::string::npos);
      if (kind == "image") {
        CHECK(ev["caption"] == "a caption");
        CHECK(ev["mimetype"] == "image/jpeg");
        CHECK(ev["width"] == 320);
        CHECK(ev["height"] == 240);
      }
      if (kind == "video") CHECK(ev["seconds"] == 2);
      if (kind == "voice") CHECK(ev["mimetype"] == "audio/ogg; codecs=opus");
      if (kind == "document") CHECK(ev["filename"] == "report.bin");
      json got = ok_result(download(t.sup, reader, sent["id"]));
      const std::string out = got["path"];
      CHECK(out.rfind(t.sup.data_dir() + "/" + reader + "/media/", 0) == 0);
      CHECK(read_all(out) == read_all(path));
      CHECK((file_mode(out) & 0777) == 0600);
    }
  }
  CHECK(events_of(t.ev.all(), "mda", "undecryptable").empty());
  CHECK(events_of(t.ev.all(), "mdb", "undecryptable").empty());
}

TEST_CASE("media: a 200 MB document is streamed up and down") {
  Fixtures fx;
  const std::string big = fx.root + "/big.bin";
  {
    std::ofstream out(big, std::ios::binary);
    std::string block = wa::random_hex(1 << 19);  // 1 MiB of hex
    for (int i = 0; i < 200; ++i) out << block;
  }
  TwoAccounts t("mba", "15550000411", "mbb", "15550000412", media_config(fx.root));
  json sent = ok_result(send_media(t.sup, "mba", user_jid("15550000412"), big, {{"type", "document"}}, 600000));
  json ev = wait_media(t.ev, "mbb", sent["id"]);
  REQUIRE(ev.is_object());
  CHECK(ev["size"] == 200u << 20);
  const std::string out = fx.root + "/big.copy";
  json got = ok_result(download(t.sup, "mbb", sent["id"], {{"path", out}}, 600000));
  CHECK(got["path"] == out);
  CHECK(sha256_file(out) == sha256_file(big));
  CHECK(ev["sha256"] == sha256_file(big));
}

TEST_CASE("media: the auto-download policy fetches what it names on arrival, and only that") {
  Fixtures fx;
  TwoAccounts t("maa", "15550000421", "mab", "15550000422",
                media_config(fx.root, {{"auto_download", {"image"}}, {"auto_download_max_bytes", 1 << 20}}));
  json img = ok_result(send_media(t.sup, "maa", user_jid("15550000422"), fx.file["image"]));
  json doc = ok_result(send_media(t.sup, "maa", user_jid("15550000422"), fx.file["document"]));
  json done;
  REQUIRE(t.ev.wait_for([&](const std::vector<json>& all) {
    for (const auto& e : events_of(all, "mab", "media_downloaded"))
      if (e["id"] == img["id"]) done = e;
    return done.is_object();
  }, kWait));
  CHECK(read_all(done["path"]) == read_all(fx.file["image"]));
  // The document arrived but was not fetched.
  REQUIRE(wait_media(t.ev, "mab", doc["id"]).is_object());
  for (const auto& e : events_of(t.ev.all(), "mab", "media_downloaded")) CHECK(e["id"] != doc["id"]);
  // A download of the fetched image answers with the file already there.
  json again = ok_result(download(t.sup, "mab", img["id"]));
  CHECK(again["path"] == done["path"]);
}

// libcurl is loaded by the sender when a transfer starts, not linked: a
// sender that only ever sent text never maps it (nor its ~23 dependencies).
TEST_CASE("media: a sender maps libcurl only once it moves a file") {
  Fixtures fx;
  TwoAccounts t("mla", "15550000461", "mlb", "15550000462", media_config(fx.root));
  const std::string b = user_jid("15550000462");
  json r = t.sup.call({{"cmd", "send_text"}, {"profile", "mla"}, {"to", b}, {"text", "text first"}}, 60000);
  REQUIRE_MESSAGE(r.value("ok", false), r.dump());
  const auto senders = t.sup.sender_pids("mla");
  REQUIRE(senders.size() == 1);
  const pid_t sender = senders.front();
  CHECK_FALSE(mapped_files(sender, "libc.so").empty());  // the maps were read at all
  CHECK(mapped_files(sender, "libcurl").empty());
  // The same conversation's sender uploads: now it has it.
  ok_result(send_media(t.sup, "mla", b, fx.file["document"]));
  REQUIRE(t.sup.sender_pids("mla") == senders);
  CHECK_FALSE(mapped_files(sender, "libcurl").empty());
}

// The sent copy of a message to `peer` (the sender keys it by the chat it
// wrote to: the peer's LID on the LID-first server).
wa::message::MediaFields sent_to(const TwoAccounts& t, const std::string& profile, const json& sent,
                                 const std::string& peer_lid) {
  return sent_media(t.sup, profile, sent["id"], user_of(peer_lid));
}

TEST_CASE("media: an expired file is asked again from the sender's phone, then downloaded") {
  Fixtures fx;
  TwoAccounts t("mra", "15550000431", "mrb", "15550000432", media_config(fx.root));
  json sent = ok_result(send_media(t.sup, "mra", user_jid("15550000432"), fx.file["image"]));
  REQUIRE(wait_media(t.ev, "mrb", sent["id"]).is_object());
  auto m = sent_to(t, "mra", sent, t.b_lid);
  REQUIRE(t.ts.admin({"media-expire", "--state", t.ts.state(), m.direct_path}).first == 0);
  // Without the phone's help the download fails as expired, and leaves nothing.
  const std::string out = fx.root + "/expired.jpg";
  json r = download(t.sup, "mrb", sent["id"], {{"path", out}});
  CHECK(error_code(r) == "media_expired");
  CHECK_FALSE(std::filesystem::exists(out));
  // The phone knows the message (a real one decrypts its own copy): now the
  // retry brings a new path and the download succeeds.
  REQUIRE(t.ts.admin({"media-retry-key", "--state", t.ts.state(), sent["id"].get<std::string>(),
                      wa::to_base64(m.media_key), m.direct_path})
              .first == 0);
  json got = ok_result(download(t.sup, "mrb", sent["id"], {{"path", out}}));
  CHECK(got["retried"] == true);
  CHECK(read_all(out) == read_all(fx.file["image"]));
  // The new path is remembered: the next download needs no retry.
  const std::string out2 = fx.root + "/again.jpg";
  json again = ok_result(download(t.sup, "mrb", sent["id"], {{"path", out2}}));
  CHECK(again["retried"] == false);
  CHECK(read_all(out2) == read_all(fx.file["image"]));
}

TEST_CASE("media: a corrupted file is media_corrupt and leaves nothing behind") {
  Fixtures fx;
  TwoAccounts t("mca", "15550000441", "mcb", "15550000442", media_config(fx.root));
  json sent = ok_result(send_media(t.sup, "mca", user_jid("15550000442"), fx.file["document"]));
  REQUIRE(wait_media(t.ev, "mcb", sent["id"]).is_object());
  auto m = sent_to(t, "mca", sent, t.b_lid);
  REQUIRE(t.ts.admin({"media-corrupt", "--state", t.ts.state(), m.direct_path}).first == 0);
  json r = download(t.sup, "mcb", sent["id"]);
  CHECK(error_code(r) == "media_corrupt");
  const std::string dir = t.sup.data_dir() + "/mcb/media";
  size_t files = 0;
  if (std::filesystem::exists(dir))
    for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir)) ++files;
  CHECK(files == 0);
  // What a sender killed mid-download leaves is removed when the account starts again.
  std::filesystem::create_directories(dir);
  std::ofstream(dir + "/X.bin.part-abc123") << "half a file";
  std::ofstream(dir + "/kept.bin") << "a finished download";
  const pid_t before = t.sup.conn_pid("mcb");
  REQUIRE(t.sup.call({{"cmd", "restart"}, {"profile", "mcb"}}, 30000).value("ok", false));
  REQUIRE(t.sup.wait_running("mcb", before, 20s));
  CHECK(wait_until([&] { return !std::filesystem::exists(dir + "/X.bin.part-abc123"); }, 10s));
  CHECK(std::filesystem::exists(dir + "/kept.bin"));
}

TEST_CASE("media: a slow media host never stalls the account") {
  Fixtures fx;
  const std::string mid = fx.root + "/mid.bin";
  std::ofstream(mid, std::ios::binary) << wa::random_hex(200000);  // 400 KB
  TwoAccounts t("msa", "15550000451", "msb", "15550000452", media_config(fx.root));
  json sent = ok_result(send_media(t.sup, "msa", user_jid("15550000452"), mid));
  REQUIRE(wait_media(t.ev, "msb", sent["id"]).is_object());
  const pid_t worker = t.sup.conn_pid("msb");
  REQUIRE(t.ts.admin({"media-slow", "--state", t.ts.state(), "40000"}).first == 0);  // ~10 s for the file
  std::atomic<bool> finished{false};
  json got;
  std::thread slow([&] {
    got = download(t.sup, "msb", sent["id"]);
    finished = true;
  });
  // While the download crawls, the account sends and receives.
  REQUIRE(wait_until([&] { return !t.sup.sender_pids("msb").empty(); }, 10s));
  json out = send_text(t.sup, "msb", user_jid("15550000451"), "still here");
  CHECK(out.value("ok", false));
  CHECK(wait_message_with(t.ev, "msa", "text", "still here", kWait).is_object());
  json back = send_text(t.sup, "msa", user_jid("15550000452"), "and you?");
  CHECK(back.value("ok", false));
  CHECK(wait_message_with(t.ev, "msb", "text", "and you?", kWait).is_object());
  CHECK_FALSE(finished.load());  // all of that happened during the download
  slow.join();
  CHECK(ok_result(got)["size"] == 400000);
  CHECK(t.sup.conn_pid("msb") == worker);  // never restarted
}

TEST_CASE("media: paths outside the allowed roots, content of the wrong kind, unknown ids and a refusing host") {
  Fixtures fx;
  TempDir other;
  const std::string outside = other.path() + "/secret.txt";
  std::ofstream(outside) << "not for sending";
  const std::string text = fx.root + "/notes.txt";
  std::ofstream(text) << "plain words, not a picture";
  REQUIRE(::symlink(outside.c_str(), (fx.root + "/link.txt").c_str()) == 0);
  TwoAccounts t("mxa", "15550000461", "mxb", "15550000462", media_config(fx.root));
  const std::string b = user_jid("15550000462");
  CHECK(error_code(send_media(t.sup, "mxa", b, outside)) == "path_not_allowed");
  CHECK(error_code(send_media(t.sup, "mxa", b, fx.root + "/link.txt")) == "path_not_allowed");
  const std::string dotdot =
      fx.root + "/../../" + std::filesystem::path(other.path()).filename().string() + "/secret.txt";
  REQUIRE(std::filesystem::exists(dotdot));
  CHECK(error_code(send_media(t.sup, "mxa", b, dotdot)) == "path_not_allowed");
  CHECK(error_code(send_media(t.sup, "mxa", b, fx.root + "/missing.jpg")) == "file_error");
  CHECK(error_code(send_media(t.sup, "mxa", b, text, {{"type", "image"}})) == "unsupported_media");
  CHECK(error_code(download(t.sup, "mxb", "NOSUCHID")) == "not_media");
  // A refusing host: nothing is sent, the error says so.
  REQUIRE(t.ts.admin({"media-refuse-uploads", "--state", t.ts.state(), "on"}).first == 0);
  CHECK(error_code(send_media(t.sup, "mxa", b, fx.file["image"])) == "upload_failed");
  REQUIRE(t.ts.admin({"media-refuse-uploads", "--state", t.ts.state(), "off"}).first == 0);
  json ok = ok_result(send_media(t.sup, "mxa", b, fx.file["image"]));
  REQUIRE(wait_media(t.ev, "mxb", ok["id"]).is_object());
  // A download may only write below the roots (or the profile's media dir).
  CHECK(error_code(download(t.sup, "mxb", ok["id"], {{"path", other.path() + "/x.jpg"}})) == "path_not_allowed");
  // Nothing but the one image reached B.
  CHECK(events_of(t.ev.all(), "mxb", "message").size() == 1);
}

TEST_CASE("media: an image and a voice note to a group, downloaded by a member") {
  Fixtures fx;
  TwoAccounts t("mga", "15550000471", "mgb", "15550000472", media_config(fx.root));
  json g = t.sup.call({{"cmd", "group_create"},
                       {"profile", "mga"},
                       {"subject", "media group"},
                       {"participants", {user_jid("15550000472")}}},
                      30000);
  const std::string gid = ok_result(g)["gid"];
  for (const char* kind : {"image", "voice"}) {
    CAPTURE(kind);
    json sent = ok_result(send_media(t.sup, "mga", gid, fx.file[kind], {{"type", kind}}));
    json ev = wait_media(t.ev, "mgb", sent["id"]);
    REQUIRE(ev.is_object());
    CHECK(ev["chat"] == gid);
    CHECK(ev["msg_type"] == kind);
    CHECK(ev["media"]["chat"] == gid);
    json got = ok_result(download(t.sup, "mgb", sent["id"], {{"chat", gid}}));
    CHECK(read_all(got["path"]) == read_all(fx.file[kind]));
  }
  CHECK(events_of(t.ev.all(), "mgb", "undecryptable").empty());
}
