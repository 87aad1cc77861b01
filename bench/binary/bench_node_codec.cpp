// Node codec throughput: encode + decode of every node of a corpus (JSON
// lines as dumped by bench/binary/baileys_codec.mjs), repeated for a fixed
// CPU time, best of 5 rounds.
#include <cstdio>
#include <ctime>
#include <fstream>
#include <string>
#include <vector>

#include "wa/binary/codec.hpp"
#include "wa/binary/json.hpp"

int main(int argc, char** argv) {
  using namespace wa::binary;
  if (argc < 2) {
    std::fprintf(stderr, "usage: bench_node_codec corpus.jsonl [seconds] [name]\n");
    return 1;
  }
  const double seconds = argc > 2 ? std::stod(argv[2]) : 2.0;
  const std::string name = argc > 3 ? argv[3] : "corpus";
  std::ifstream in(argv[1]);
  std::vector<Node> nodes;
  std::string line;
  while (std::getline(in, line)) {
    auto n = from_json_text(line);
    if (!n) {
      std::fprintf(stderr, "bad corpus line %zu: %s\n", nodes.size() + 1, n.error().message.c_str());
      return 1;
    }
    nodes.push_back(std::move(*n));
  }
  if (nodes.empty()) {
    std::fprintf(stderr, "empty corpus\n");
    return 1;
  }

  // Best of several rounds: the machine is shared, and the fastest round is
  // the one least disturbed by other processes. Rates are per CPU second.
  std::size_t check = 0;  // keeps the work observable
  wa::Bytes buf;
  double best = 0;
  double best_mb = 0;
  const int rounds = 5;
  for (int round = 0; round < rounds; ++round) {
    std::size_t done = 0;
    std::size_t bytes = 0;
    const std::clock_t cpu_start = std::clock();
    auto cpu = [&] { return static_cast<double>(std::clock() - cpu_start) / CLOCKS_PER_SEC; };
    while (cpu() < seconds / rounds) {
      for (const Node& n : nodes) {
        buf.clear();
        if (!encode_to(n, buf)) return 1;
        auto back = decode(buf);
        if (!back) return 1;
        check += back->attrs.size();
        bytes += buf.size();
      }
      done += nodes.size();
    }
    const double t = cpu();
    if (static_cast<double>(done) / t > best) {
      best = static_cast<double>(done) / t;
      best_mb = static_cast<double>(bytes) / t / 1e6;
    }
  }
  std::printf("ours %s: %zu nodes, %.0f nodes/s encode+decode, %.1f MB/s (best of %d, CPU time; check %zu)\n",
              name.c_str(), nodes.size(), best, best_mb, rounds, check % 10);
  return 0;
}
