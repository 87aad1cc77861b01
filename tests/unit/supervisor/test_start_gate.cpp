#include <doctest/doctest.h>

#include <vector>

#include "start_gate.hpp"

using wa::supervisor::StartGate;

TEST_CASE("start gate: at most max slots held, granted in request order") {
  StartGate g(2);
  std::vector<int> granted;
  uint64_t t[4];
  for (int i = 0; i < 4; ++i) {
    t[i] = g.ticket();
    g.request(t[i], [&granted, i] { granted.push_back(i); });
  }
  CHECK(granted == std::vector<int>{0, 1});
  CHECK(g.connecting() == 2);
  CHECK(g.waiting() == 2);
  g.release(t[1]);
  CHECK(granted == std::vector<int>{0, 1, 2});
  // A waiting ticket leaves the queue without taking a slot.
  g.release(t[3]);
  CHECK(g.waiting() == 0);
  g.release(t[0]);
  CHECK(granted == std::vector<int>{0, 1, 2});
  CHECK(g.connecting() == 1);
  // Released twice, or never known: ignored.
  g.release(t[0]);
  g.release(12345);
  CHECK(g.connecting() == 1);
  CHECK(g.max_seen() == 2);
}

TEST_CASE("start gate: a grant that fails at once and gives its slot back lets the next one in") {
  StartGate g(1);
  std::vector<int> granted;
  uint64_t a = g.ticket(), b = g.ticket(), c = g.ticket();
  g.request(a, [&] { granted.push_back(0); });
  g.request(b, [&] {
    granted.push_back(1);
    g.release(b);  // a spawn that failed inside the grant
  });
  g.request(c, [&] { granted.push_back(2); });
  CHECK(granted == std::vector<int>{0});
  g.release(a);
  CHECK(granted == std::vector<int>{0, 1, 2});
  CHECK(g.connecting() == 1);
  CHECK(g.max_seen() == 1);
}

TEST_CASE("start gate: closed, nothing more is granted") {
  StartGate g(1);
  int granted = 0;
  uint64_t a = g.ticket(), b = g.ticket();
  g.request(a, [&] { ++granted; });
  g.request(b, [&] { ++granted; });
  g.close();
  g.release(a);
  CHECK(granted == 1);
  g.request(g.ticket(), [&] { ++granted; });
  CHECK(granted == 1);
}
