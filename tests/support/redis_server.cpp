#include "redis_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <stdexcept>
#include <thread>

namespace quotamilter::test {
namespace {

using Clock = std::chrono::steady_clock;

// fork + execvp with stdout to `out_fd` (or /dev/null), stderr to /dev/null.
pid_t spawn(const std::vector<std::string>& argv, int out_fd) {
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    const pid_t parent = getpid();
    const pid_t pid = fork();
    if (pid < 0) throw std::runtime_error("fork failed");
    if (pid == 0) {
        // Never outlive the test process.
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent) _exit(127);
        const int devnull = open("/dev/null", O_RDWR);
        dup2(devnull, 0);
        dup2(out_fd >= 0 ? out_fd : devnull, 1);
        dup2(devnull, 2);
        execvp(args[0], args.data());
        _exit(127);
    }
    return pid;
}

// waitpid with a time limit; true if the child was reaped.
bool wait_for(pid_t pid, std::chrono::milliseconds limit, int* status = nullptr) {
    const auto until = Clock::now() + limit;
    int st = 0;
    while (true) {
        const pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid) {
            if (status) *status = st;
            return true;
        }
        if (r < 0 || Clock::now() >= until) return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
}

bool answers_ping(int port) {
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return false;
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bool ok = false;
    if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
        const char ping[] = "PING\r\n";
        if (write(fd, ping, sizeof ping - 1) == static_cast<ssize_t>(sizeof ping - 1)) {
            pollfd p{fd, POLLIN, 0};
            char buf[16] = {};
            // +PONG, or -NOAUTH when a password is required: either way it answers.
            ok = poll(&p, 1, 200) == 1 && read(fd, buf, sizeof buf - 1) > 0 &&
                 (buf[0] == '+' || buf[0] == '-');
        }
    }
    close(fd);
    return ok;
}

}  // namespace

int free_loopback_port() {
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) throw std::runtime_error("socket failed");
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    socklen_t len = sizeof addr;
    if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
        close(fd);
        throw std::runtime_error("cannot find a free loopback port");
    }
    close(fd);
    return ntohs(addr.sin_port);
}

RedisServer::RedisServer(std::vector<std::string> extra_args)
    : RedisServer(ConfigFile{}, std::move(extra_args)) {}

RedisServer::RedisServer(ConfigFile config, std::vector<std::string> extra_args)
    : extra_args_(std::move(extra_args)), config_text_(std::move(config.text)) {
    std::string pattern = (std::filesystem::temp_directory_path() / "qm-redis-XXXXXX").string();
    if (!mkdtemp(pattern.data())) throw std::runtime_error("mkdtemp failed");
    dir_ = pattern;
    // Another process may grab the port between probe and bind: try a few.
    for (int attempt = 0; attempt < 5; ++attempt) {
        port_ = free_loopback_port();
        try {
            start();
            return;
        } catch (const std::exception&) {
            if (attempt == 4) {
                std::filesystem::remove_all(dir_);
                throw;
            }
        }
    }
}

RedisServer::~RedisServer() {
    try {
        stop();
    } catch (...) {
    }
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
}

std::string RedisServer::url(int db) const {
    return "redis://127.0.0.1:" + std::to_string(port_) + "/" + std::to_string(db);
}

void RedisServer::start() {
    if (running()) return;
    std::vector<std::string> argv{"redis-server"};
    if (!config_text_.empty()) {
        const auto config_path = dir_ / "redis.conf";
        std::ofstream(config_path) << config_text_;
        argv.push_back(config_path.string());
    }
    argv.insert(argv.end(), {"--bind", "127.0.0.1",
                                  "--port", std::to_string(port_),
                                  "--dir", dir_.string(),
                                  "--unixsocket", unix_socket().string(),
                                  "--unixsocketperm", "700",
                                  "--save", "",
                                  "--appendonly", "no",
                                  "--daemonize", "no",
                                  "--logfile", (dir_ / "redis.log").string()});
    argv.insert(argv.end(), extra_args_.begin(), extra_args_.end());
    pid_ = spawn(argv, -1);
    paused_ = false;
    wait_until_ready();
}

void RedisServer::wait_until_ready() {
    const auto until = Clock::now() + std::chrono::seconds(10);
    while (Clock::now() < until) {
        int status = 0;
        if (waitpid(pid_, &status, WNOHANG) == pid_) {
            pid_ = -1;
            throw std::runtime_error("redis-server exited at start (see " +
                                     (dir_ / "redis.log").string() + ")");
        }
        if (answers_ping(port_)) return;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    stop();
    throw std::runtime_error("redis-server did not answer PING within 10 s");
}

void RedisServer::stop() {
    if (!running()) return;
    if (paused_) resume();
    kill(pid_, SIGTERM);
    if (!wait_for(pid_, std::chrono::seconds(5))) {
        kill(pid_, SIGKILL);
        wait_for(pid_, std::chrono::seconds(5));
    }
    pid_ = -1;
}

void RedisServer::crash() {
    if (!running()) return;
    kill(pid_, SIGKILL);
    wait_for(pid_, std::chrono::seconds(5));
    pid_ = -1;
    paused_ = false;
}

void RedisServer::pause() {
    if (!running()) return;
    kill(pid_, SIGSTOP);
    paused_ = true;
}

void RedisServer::resume() {
    if (!running()) return;
    kill(pid_, SIGCONT);
    paused_ = false;
}

std::string RedisServer::password() const {
    for (std::size_t i = 0; i + 1 < extra_args_.size(); ++i)
        if (extra_args_[i] == "--requirepass") return extra_args_[i + 1];
    return "";
}

std::string RedisServer::cli(const std::vector<std::string>& args, std::chrono::seconds limit) const {
    std::vector<std::string> argv{"redis-cli", "-h", "127.0.0.1", "-p", std::to_string(port_)};
    if (const auto pw = password(); !pw.empty()) argv.insert(argv.end(), {"-a", pw, "--no-auth-warning"});
    argv.insert(argv.end(), args.begin(), args.end());
    int fds[2];
    if (pipe(fds) != 0) throw std::runtime_error("pipe failed");
    const pid_t pid = spawn(argv, fds[1]);
    close(fds[1]);
    std::string out;
    const auto until = Clock::now() + limit;
    char buf[4096];
    while (Clock::now() < until) {
        pollfd p{fds[0], POLLIN, 0};
        if (poll(&p, 1, 100) <= 0) continue;
        const ssize_t n = read(fds[0], buf, sizeof buf);
        if (n <= 0) break;
        out.append(buf, static_cast<std::size_t>(n));
    }
    close(fds[0]);
    int status = 0;
    if (!wait_for(pid, std::chrono::seconds(2), &status)) {
        kill(pid, SIGKILL);
        wait_for(pid, std::chrono::seconds(2));
        throw std::runtime_error("redis-cli took too long");
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        throw std::runtime_error("redis-cli failed: " + out);
    return out;
}

}  // namespace quotamilter::test
