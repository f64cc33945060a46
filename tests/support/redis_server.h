// A private redis-server for integration tests: a free loopback port, a
// temporary directory (also holding a unix socket), no persistence. Stopped
// by PID (never by name) when the object dies; it also dies with the test
// process (PR_SET_PDEATHSIG).
//
//   quotamilter::test::RedisServer redis;           // started and answering PING
//   open_store({.url = redis.url()});                // "redis://127.0.0.1:PORT/0"
//   redis.cli({"HGET", key, "sum"});                  // runs redis-cli, returns stdout
//   redis.pause(); redis.resume();                   // SIGSTOP / SIGCONT: a hung Redis
//   redis.stop(); redis.start();                     // an outage, same port
//
// Link with the CMake target qm_test_support. Throws std::runtime_error when
// redis-server cannot be started. Create it on a thread that outlives it (the
// main thread, or a static): the server gets SIGKILL when the thread that
// started it exits (PR_SET_PDEATHSIG is per thread).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

namespace quotamilter::test {

// The text of a configuration file, written to the server's directory and
// passed first (a Sentinel needs one it can rewrite).
struct ConfigFile {
    std::string text;
};

class RedisServer {
public:
    // Starts at once; `extra_args` go to redis-server (e.g. {"--requirepass", "x"}).
    explicit RedisServer(std::vector<std::string> extra_args = {});
    RedisServer(ConfigFile config, std::vector<std::string> extra_args);
    ~RedisServer();
    RedisServer(const RedisServer&) = delete;
    RedisServer& operator=(const RedisServer&) = delete;

    int port() const { return port_; }
    // The value after "--requirepass" in the arguments, or "": redis-cli is
    // then run with it (-a).
    std::string password() const;
    pid_t pid() const { return pid_; }
    bool running() const { return pid_ > 0; }
    std::string url(int db = 0) const;                  // redis://127.0.0.1:PORT/DB
    std::filesystem::path unix_socket() const { return dir_ / "redis.sock"; }
    std::filesystem::path dir() const { return dir_; }

    // Runs `redis-cli -h 127.0.0.1 -p PORT ARGS...` (no shell) and returns its
    // stdout; throws if it exits non-zero or takes more than `limit`.
    std::string cli(const std::vector<std::string>& args,
                    std::chrono::seconds limit = std::chrono::seconds(10)) const;

    void start();   // (again) on the same port; waits until it answers PING
    void stop();    // SIGTERM, then SIGKILL after 5 s; waits for the PID
    void crash();   // SIGKILL: a machine gone, no goodbye; waits for the PID
    void pause();   // SIGSTOP: accepts connections, answers nothing
    void resume();  // SIGCONT

private:
    void wait_until_ready();

    std::filesystem::path dir_;
    std::vector<std::string> extra_args_;
    std::string config_text_;  // empty: no configuration file
    int port_ = 0;
    pid_t pid_ = -1;
    bool paused_ = false;
};

// A TCP port on 127.0.0.1 that nothing listens on right now.
int free_loopback_port();

}  // namespace quotamilter::test
