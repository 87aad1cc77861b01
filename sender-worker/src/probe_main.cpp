// wa-probe: reads one media file and prints what a media message says of it
// (mimetype, kind, size, duration, thumbnail, waveform) as one line of JSON
// (wa::media::probe_answer). Started by wa-sender for each file it sends, so
// libmagic, libvips and FFmpeg — large, and decoders of outside bytes — live
// in a process that holds nothing and ends with the answer. It limits its
// own CPU time and memory: a file that makes a decoder spin or balloon
// costs this process, not the sender.
#include <sys/resource.h>

#include <CLI/CLI.hpp>
#include <cstdio>

#include "wa/build_info.hpp"
#include "wa/media/media.hpp"

int main(int argc, char** argv) {
  CLI::App app{"wa-probe: what a media message says of a file (started by wa-sender)"};
  app.set_version_flag("--version", std::string("wa-probe ") + wa::kVersion);
  std::string path, type;
  app.add_option("path", path, "the file")->required();
  app.add_option("--type", type, "read it as this kind: image, video, audio, voice, document, sticker");
  CLI11_PARSE(app, argc, argv);

  // Generous for a 2 GB video's first frame and a long voice note's samples.
  const rlimit cpu{60, 60};
  const rlimit mem{rlim_t{4} << 30, rlim_t{4} << 30};
  (void)::setrlimit(RLIMIT_CPU, &cpu);
  (void)::setrlimit(RLIMIT_AS, &mem);

  std::optional<wa::media::Kind> forced;
  if (!type.empty()) {
    forced = wa::media::kind_from_name(type);
    if (!forced) {
      std::printf("%s\n", wa::media::probe_answer(wa::fail("bad_request", "unknown kind " + type)).c_str());
      return 64;
    }
  }
  auto probe = wa::media::probe_file(path, forced);
  std::printf("%s\n", wa::media::probe_answer(probe).c_str());
  return probe ? 0 : 1;
}
