// Catch2's main lives in its own translation unit so it is compiled once.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include <csignal>

int main(int argc, char* argv[]) {
  // The tests talk to servers that may close a connection while a client still writes (a refused upload, a body
  // refused before it is read): that must be an error the test sees, not SIGPIPE killing the test process.
  std::signal(SIGPIPE, SIG_IGN);
  return Catch::Session().run(argc, argv);
}
