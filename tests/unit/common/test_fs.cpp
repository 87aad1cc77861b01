// fs::resolve_under: the check that keeps send_media and download inside
// the operator's allowed directories, symbolic links and ".." included.
#include <doctest/doctest.h>
#include <unistd.h>

#include <fstream>
#include <vector>

#include "temp_dir.hpp"
#include "wa/fs.hpp"

using wa::test::TempDir;

TEST_CASE("resolve_under: files below a root pass, links and dot-dot out of it do not") {
  TempDir dir;
  const std::string root = dir.file("root");
  const std::string outside = dir.file("outside");
  REQUIRE(wa::fs::ensure_private_dir(root + "/sub"));
  REQUIRE(wa::fs::ensure_private_dir(outside));
  std::ofstream(root + "/sub/a.jpg") << "x";
  std::ofstream(outside + "/secret") << "s";
  REQUIRE(::symlink((outside + "/secret").c_str(), (root + "/link").c_str()) == 0);
  const std::vector<std::string> roots{root};

  auto ok = wa::fs::resolve_under(root + "/sub/../sub/a.jpg", roots, true);
  REQUIRE(ok.has_value());
  CHECK(*ok == root + "/sub/a.jpg");
  CHECK(wa::fs::resolve_under(root + "/link", roots, true).error().code == "path_not_allowed");
  CHECK(wa::fs::resolve_under(root + "/../outside/secret", roots, true).error().code == "path_not_allowed");
  CHECK(wa::fs::resolve_under(outside + "/secret", roots, true).error().code == "path_not_allowed");
  CHECK(wa::fs::resolve_under(root + "/missing", roots, true).error().code == "file_error");
  CHECK(wa::fs::resolve_under("relative/a.jpg", roots, true).error().code == "path_not_allowed");
  // A root that is a prefix of another directory's name is not its parent.
  REQUIRE(wa::fs::ensure_private_dir(root + "x"));
  std::ofstream(root + "x/b") << "b";
  CHECK(wa::fs::resolve_under(root + "x/b", roots, true).error().code == "path_not_allowed");
  // No roots: nothing is allowed.
  CHECK(wa::fs::resolve_under(root + "/sub/a.jpg", {}, true).error().code == "path_not_allowed");

  // A file still to be written: its directory must be inside.
  auto out = wa::fs::resolve_under(root + "/sub/new.bin", roots, false);
  REQUIRE(out.has_value());
  CHECK(*out == root + "/sub/new.bin");
  CHECK(wa::fs::resolve_under(outside + "/new.bin", roots, false).error().code == "path_not_allowed");
  CHECK(wa::fs::resolve_under(root + "/sub/..", roots, false).error().code == "path_not_allowed");
  CHECK(wa::fs::resolve_under(root + "/nodir/new.bin", roots, false).error().code == "file_error");
}
