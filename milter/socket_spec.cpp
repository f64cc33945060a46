#include "milter/socket_spec.h"

#include <fmt/format.h>

#include <cerrno>
#include <cstring>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

namespace quotamilter::milter {

SocketSpec parse_socket_spec(const std::string& spec) {
    SocketSpec result;
    auto colon = spec.find(':');
    std::string proto = colon == std::string::npos ? "" : spec.substr(0, colon);
    std::string rest = colon == std::string::npos ? spec : spec.substr(colon + 1);
    if (colon == std::string::npos || proto == "unix" || proto == "local") {
        if (rest.empty() || rest.front() != '/')
            throw std::invalid_argument(fmt::format("socket '{}': a unix socket needs an absolute path", spec));
        if (rest.size() >= sizeof(sockaddr_un{}.sun_path))
            throw std::invalid_argument(fmt::format("socket '{}': path too long", spec));
        result.kind = SocketSpec::Kind::unix_path;
        result.path = rest;
        return result;
    }
    if (proto == "inet" || proto == "inet6") {
        result.kind = proto == "inet" ? SocketSpec::Kind::inet : SocketSpec::Kind::inet6;
        auto at = rest.find('@');
        result.port = rest.substr(0, at);
        if (at != std::string::npos) result.host = rest.substr(at + 1);
        if (result.port.empty())
            throw std::invalid_argument(fmt::format("socket '{}': expected {}:PORT@HOST", spec, proto));
        return result;
    }
    throw std::invalid_argument(
        fmt::format("socket '{}': expected unix:/path, inet:PORT@HOST or inet6:PORT@HOST", spec));
}

StaleSocket clear_stale_unix_socket(const std::string& path) {
    struct stat info {};
    if (::lstat(path.c_str(), &info) != 0) {
        if (errno == ENOENT) return StaleSocket::absent;
        throw std::runtime_error(fmt::format("{}: {}", path, std::strerror(errno)));
    }
    if (!S_ISSOCK(info.st_mode)) return StaleSocket::not_a_socket;

    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) throw std::runtime_error(fmt::format("socket(AF_UNIX): {}", std::strerror(errno)));
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::memcpy(address.sun_path, path.c_str(), std::min(path.size(), sizeof address.sun_path - 1));
    int rc = ::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address);
    int saved = errno;
    ::close(fd);
    // A listener with a full backlog answers EAGAIN: alive all the same.
    if (rc == 0 || saved == EAGAIN || saved == EINPROGRESS) return StaleSocket::in_use;
    if (saved == ECONNREFUSED) {
        if (::unlink(path.c_str()) != 0 && errno != ENOENT)
            throw std::runtime_error(fmt::format("cannot remove stale socket {}: {}", path, std::strerror(errno)));
        return StaleSocket::removed_stale;
    }
    throw std::runtime_error(fmt::format("cannot probe socket {}: {}", path, std::strerror(saved)));
}

}  // namespace quotamilter::milter
