// upload_file / download_file against a local HTTPS media host
// (media_host.py) whose certificate comes from a CA made for the test.
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
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

#if defined(__SANITIZE_ADDRESS__)
constexpr bool kAddressSanitizer = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr bool kAddressSanitizer = true;
#else
constexpr bool kAddressSanitizer = false;
#endif
#else
constexpr bool kAddressSanitizer = false;
#endif

int run(const std::string& cmd) { return std::system((cmd + " >/dev/null 2>&1").c_str()); }

// A test CA and a server certificate for 127.0.0.1 signed by it.
void make_pki(const wa::test::TempDir& d) {
  const std::string p = d.path();
  REQUIRE(run("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=wa-test-ca"
              " -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign"
              " -keyout " + p + "/ca.key -out " + p + "/ca.pem") == 0);
  REQUIRE(run("openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=localhost"
              " -keyout " + p + "/srv.key -out " + p + "/srv.csr") == 0);
  {
    std::ofstream ext(p + "/ext.cnf");
    ext << "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n";
  }
  REQUIRE(run("openssl x509 -req -days 2 -in " + p + "/srv.csr -CA " + p + "/ca.pem -CAkey " + p +
              "/ca.key -CAcreateserial -extfile " + p + "/ext.cnf -out " + p + "/srv.pem") == 0);
}

// media_host.py as a child process; ready once it printed its port.
class HostProcess {
 public:
  HostProcess(const wa::test::TempDir& d, const std::string& auth) {
    std::filesystem::create_directories(d.file("blobs"));
    int out[2];
    REQUIRE(::pipe(out) == 0);
    pid_ = ::fork();
    REQUIRE(pid_ >= 0);
    if (pid_ == 0) {
      ::dup2(out[1], 1);
      ::close(out[0]);
      ::close(out[1]);
      const std::string cert = d.file("srv.pem"), key = d.file("srv.key"), blobs = d.file("blobs");
      ::execlp("python3", "python3", WA_MEDIA_HOST_SCRIPT, cert.c_str(), key.c_str(), blobs.c_str(), auth.c_str(),
               static_cast<char*>(nullptr));
      ::_exit(127);
    }
    ::close(out[1]);
    out_ = out[0];
    // Wait for "PORT n\n" with a deadline (no sleeps).
    std::string line;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (line.find('\n') == std::string::npos) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      REQUIRE_MESSAGE(left.count() > 0, "media_host.py did not start");
      pollfd pfd{out_, POLLIN, 0};
      if (::poll(&pfd, 1, static_cast<int>(left.count())) <= 0) continue;
      char buf[64];
      const ssize_t n = ::read(out_, buf, sizeof buf);
      REQUIRE_MESSAGE(n > 0, "media_host.py exited");
      line.append(buf, static_cast<size_t>(n));
    }
    REQUIRE(line.rfind("PORT ", 0) == 0);
    port_ = std::stoi(line.substr(5));
  }
  ~HostProcess() {
    if (pid_ > 0) {
      ::kill(pid_, SIGTERM);
      ::waitpid(pid_, nullptr, 0);
    }
    if (out_ >= 0) ::close(out_);
  }
  HostProcess(const HostProcess&) = delete;
  HostProcess& operator=(const HostProcess&) = delete;
  std::string host() const { return "127.0.0.1:" + std::to_string(port_); }

 private:
  pid_t pid_ = -1;
  int out_ = -1;
  int port_ = 0;
};

// A local port nobody listens on: bound, then closed.
std::string closed_host() {
  const int s = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  socklen_t len = sizeof a;
  REQUIRE(::getsockname(s, reinterpret_cast<sockaddr*>(&a), &len) == 0);
  ::close(s);
  return "127.0.0.1:" + std::to_string(ntohs(a.sin_port));
}

Bytes test_data(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  Bytes b(n);
  for (auto& x : b) x = static_cast<uint8_t>(rng());
  return b;
}

void write_file(const std::string& path, const Bytes& b) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
}

Bytes read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return Bytes(std::istreambuf_iterator<char>(f), {});
}

// Files in `dir` (the download must leave no temporary behind).
size_t files_in(const std::string& dir) {
  size_t n = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir)) ++n;
  return n;
}

struct Fixture {
  wa::test::TempDir dir;
  std::string out_dir;
  std::optional<HostProcess> server;
  HttpOptions http;
  MediaConn conn;
  Fixture() {
    make_pki(dir);
    server.emplace(dir, "AUTH+/=x");
    out_dir = dir.file("out");
    std::filesystem::create_directories(out_dir);
    http.ca_file = dir.file("ca.pem");
    http.connect_timeout_ms = 5000;
    conn.auth = "AUTH+/=x";
    conn.ttl_s = 300;
    conn.hosts.push_back(MediaHost{server->host(), false, 0});
  }
  // Pass 1 and pass 2 of `data` as `k`; the key and hashes for the download.
  struct Sent {
    Bytes key;
    FileHashes hashes;
    Uploaded up;
  };
  Sent send(const Bytes& data, Kind k) {
    write_file(dir.file("src.bin"), data);
    Sent s;
    s.key = random_media_key();
    s.hashes = must(hash_file(dir.file("src.bin"), s.key, k));
    s.up = must(upload_file(conn, k, dir.file("src.bin"), s.key, s.hashes, http));
    return s;
  }
  DownloadRequest request(const Sent& s, Kind k, std::string direct_path = {}) const {
    DownloadRequest r;
    r.hosts = {server->host()};
    r.direct_path = direct_path.empty() ? s.up.direct_path : std::move(direct_path);
    r.kind = k;
    r.media_key = s.key;
    r.expected = s.hashes;
    return r;
  }
};

std::string code_of(const Status& s) { return s ? "ok" : s.error().code; }

}  // namespace

TEST_CASE("upload then download gives the same bytes") {
  Fixture f;
  for (size_t size : {size_t{0}, size_t{1000}, kChunk * 5 + 3}) {
    const Bytes data = test_data(size, static_cast<uint32_t>(size));
    auto s = f.send(data, Kind::video);
    CHECK(s.up.direct_path.rfind("/v/", 0) == 0);
    CHECK(s.up.url == "https://" + f.server->host() + s.up.direct_path);
    const std::string out = f.out_dir + "/got.bin";
    must_ok(download_file(f.request(s, Kind::video), out, f.http));
    CHECK(read_file(out) == data);
    struct stat st {};
    REQUIRE(::stat(out.c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0600);
    CHECK(files_in(f.out_dir) == 1);
    std::filesystem::remove(out);
  }
}

TEST_CASE("download of an expired file is media_expired and leaves nothing") {
  Fixture f;
  auto s = f.send(test_data(5000, 1), Kind::image);
  const std::string out = f.out_dir + "/x.jpg";
  auto missing = f.request(s, Kind::image, "/v/nothing-here.enc?ccb=1");
  CHECK(code_of(download_file(missing, out, f.http)) == "media_expired");
  CHECK(code_of(download_file(f.request(s, Kind::image, "/gone/x.enc"), out, f.http)) == "media_expired");
  CHECK(files_in(f.out_dir) == 0);
}

TEST_CASE("a corrupted download is media_corrupt and leaves nothing") {
  Fixture f;
  auto s = f.send(test_data(100000, 2), Kind::document);
  const std::string name = s.up.direct_path.substr(3);  // "/v/<token>.enc?ccb=1"
  const std::string out = f.out_dir + "/doc.pdf";
  CHECK(code_of(download_file(f.request(s, Kind::document, "/corrupt/" + name), out, f.http)) == "media_corrupt");
  CHECK(files_in(f.out_dir) == 0);
  // The right body under the wrong kind's keys (a wrong media key) too.
  CHECK(code_of(download_file(f.request(s, Kind::image), out, f.http)) == "media_corrupt");
  CHECK(files_in(f.out_dir) == 0);
  // An existing file is not replaced by a failed download.
  write_file(out, to_bytes("old"));
  CHECK(code_of(download_file(f.request(s, Kind::document, "/corrupt/" + name), out, f.http)) == "media_corrupt");
  CHECK(read_file(out) == to_bytes("old"));
  CHECK(files_in(f.out_dir) == 1);
}

TEST_CASE("a server failure on every host is download_failed") {
  Fixture f;
  auto s = f.send(test_data(100, 3), Kind::audio);
  auto r = f.request(s, Kind::audio, "/fail/x.enc");
  r.hosts = {f.server->host(), f.server->host()};
  const std::string out = f.out_dir + "/a.ogg";
  CHECK(code_of(download_file(r, out, f.http)) == "download_failed");
  CHECK(files_in(f.out_dir) == 0);
}

TEST_CASE("an untrusted certificate fails both ways") {
  Fixture f;
  auto s = f.send(test_data(3000, 4), Kind::image);
  HttpOptions system_only = f.http;
  system_only.ca_file.clear();
  const std::string out = f.out_dir + "/x.jpg";
  CHECK(code_of(download_file(f.request(s, Kind::image), out, system_only)) == "download_failed");
  CHECK(files_in(f.out_dir) == 0);
  auto up = upload_file(f.conn, Kind::image, f.dir.file("src.bin"), s.key, s.hashes, system_only);
  REQUIRE_FALSE(up);
  CHECK(up.error().code == "upload_failed");
  // Another CA than the server's does not help either.
  REQUIRE(run("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=other-ca"
              " -keyout " + f.dir.file("other.key") + " -out " + f.dir.file("other.pem")) == 0);
  HttpOptions other = f.http;
  other.ca_file = f.dir.file("other.pem");
  CHECK(code_of(download_file(f.request(s, Kind::image), out, other)) == "download_failed");
  // With the right CA it works (the extra CA is added to the system store).
  must_ok(download_file(f.request(s, Kind::image), out, f.http));
}

TEST_CASE("a file changed between the passes is file_changed") {
  Fixture f;
  const Bytes data = test_data(kChunk * 2 + 100, 5);
  write_file(f.dir.file("src.bin"), data);
  const Bytes key = random_media_key();
  const FileHashes h = must(hash_file(f.dir.file("src.bin"), key, Kind::document));
  Bytes same_size = data;
  same_size[kChunk + 7] ^= 0x40;
  write_file(f.dir.file("src.bin"), same_size);
  auto r1 = upload_file(f.conn, Kind::document, f.dir.file("src.bin"), key, h, f.http);
  REQUIRE_FALSE(r1);
  CHECK(r1.error().code == "file_changed");
  Bytes longer = data;
  longer.resize(data.size() + 100, 7);
  write_file(f.dir.file("src.bin"), longer);
  auto r2 = upload_file(f.conn, Kind::document, f.dir.file("src.bin"), key, h, f.http);
  REQUIRE_FALSE(r2);
  CHECK(r2.error().code == "file_changed");
  Bytes shorter(data.begin(), data.end() - 1);
  write_file(f.dir.file("src.bin"), shorter);
  auto r3 = upload_file(f.conn, Kind::document, f.dir.file("src.bin"), key, h, f.http);
  REQUIRE_FALSE(r3);
  CHECK(r3.error().code == "file_changed");
  // Nothing reached the host's store.
  CHECK(files_in(f.dir.file("blobs")) == 0);
  write_file(f.dir.file("src.bin"), data);
  must(upload_file(f.conn, Kind::document, f.dir.file("src.bin"), key, h, f.http));
  CHECK(files_in(f.dir.file("blobs")) == 1);
}

TEST_CASE("the next host is tried after a refused connection") {
  Fixture f;
  const Bytes data = test_data(20000, 6);
  write_file(f.dir.file("src.bin"), data);
  const Bytes key = random_media_key();
  const FileHashes h = must(hash_file(f.dir.file("src.bin"), key, Kind::image));
  MediaConn conn = f.conn;
  conn.hosts.insert(conn.hosts.begin(), MediaHost{closed_host(), false, 0});
  auto up = must(upload_file(conn, Kind::image, f.dir.file("src.bin"), key, h, f.http));
  DownloadRequest r;
  r.hosts = {closed_host(), f.server->host()};
  r.direct_path = up.direct_path;
  r.kind = Kind::image;
  r.media_key = key;
  r.expected = h;
  must_ok(download_file(r, f.out_dir + "/img", f.http));
  CHECK(read_file(f.out_dir + "/img") == data);
  // Only refusing hosts: upload_failed / download_failed, saying why.
  conn.hosts = {MediaHost{closed_host(), false, 0}};
  auto bad = upload_file(conn, Kind::image, f.dir.file("src.bin"), key, h, f.http);
  REQUIRE_FALSE(bad);
  CHECK(bad.error().code == "upload_failed");
  CHECK(bad.error().message.find("127.0.0.1") != std::string::npos);
  r.hosts = {closed_host()};
  CHECK(code_of(download_file(r, f.out_dir + "/img2", f.http)) == "download_failed");
}

TEST_CASE("upload size limits and a wrong auth") {
  Fixture f;
  const Bytes data = test_data(1000, 7);
  write_file(f.dir.file("src.bin"), data);
  const Bytes key = random_media_key();
  const FileHashes h = must(hash_file(f.dir.file("src.bin"), key, Kind::image));
  MediaConn conn = f.conn;
  conn.auth = "too-large";
  auto r413 = upload_file(conn, Kind::image, f.dir.file("src.bin"), key, h, f.http);
  REQUIRE_FALSE(r413);
  CHECK(r413.error().code == "too_large");
  conn = f.conn;
  conn.max_content_bytes = 100;
  auto announced = upload_file(conn, Kind::image, f.dir.file("src.bin"), key, h, f.http);
  REQUIRE_FALSE(announced);
  CHECK(announced.error().code == "too_large");
  conn = f.conn;
  conn.auth = "wrong";
  auto unauth = upload_file(conn, Kind::image, f.dir.file("src.bin"), key, h, f.http);
  REQUIRE_FALSE(unauth);
  CHECK(unauth.error().code == "upload_failed");
  CHECK(unauth.error().message.find("401") != std::string::npos);
}

TEST_CASE("a cancelled transfer stops with cancelled") {
  Fixture f;
  auto s = f.send(test_data(kChunk * 4, 8), Kind::video);
  HttpOptions cancel = f.http;
  cancel.cancelled = [] { return true; };
  const std::string out = f.out_dir + "/v.mp4";
  CHECK(code_of(download_file(f.request(s, Kind::video), out, cancel)) == "cancelled");
  CHECK(files_in(f.out_dir) == 0);
  auto up = upload_file(f.conn, Kind::video, f.dir.file("src.bin"), s.key, s.hashes, cancel);
  REQUIRE_FALSE(up);
  CHECK(up.error().code == "cancelled");
}

TEST_CASE("a large file streams through in bounded memory") {
  // ctest runs each case in its own process: ru_maxrss is this case's peak.
  Fixture f;
  const std::string src = f.dir.file("big.bin");
  constexpr size_t kMiB = 1024 * 1024;
  {
    std::ofstream out(src, std::ios::binary);
    for (uint32_t i = 0; i < 48; ++i) {
      const Bytes piece = test_data(kMiB, i);
      out.write(reinterpret_cast<const char*>(piece.data()), static_cast<std::streamsize>(piece.size()));
    }
  }
  rusage before{};
  ::getrusage(RUSAGE_SELF, &before);
  const Bytes key = random_media_key();
  const FileHashes h = must(hash_file(src, key, Kind::document));
  CHECK(h.file_length == 48 * kMiB);
  auto up = must(upload_file(f.conn, Kind::document, src, key, h, f.http));
  DownloadRequest r;
  r.hosts = {f.server->host()};
  r.direct_path = up.direct_path;
  r.kind = Kind::document;
  r.media_key = key;
  r.expected = h;
  const std::string out = f.out_dir + "/big.out";
  must_ok(download_file(r, out, f.http));
  CHECK(must(hash_file(out, key, Kind::document)).file_sha256 == h.file_sha256);
  rusage after{};
  ::getrusage(RUSAGE_SELF, &after);
  MESSAGE("peak growth KiB: " << (after.ru_maxrss - before.ru_maxrss));
  // ru_maxrss is in KiB; a buffered 48 MiB file would show here. (ASan's
  // quarantine of freed chunks inflates the peak: no bound there.)
  if (!kAddressSanitizer) CHECK(after.ru_maxrss - before.ru_maxrss < 16 * 1024);
}
