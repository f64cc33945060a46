// Socket specifications, stale-socket cleanup, client addresses.
#include "milter/client_address.h"
#include "milter/socket_spec.h"

#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>

using namespace quotamilter::milter;

namespace {

// A bound unix socket; listening or not.
struct UnixSocket {
    UnixSocket(const std::string& path, bool listening) {
        fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
        sockaddr_un address{};
        address.sun_family = AF_UNIX;
        std::strncpy(address.sun_path, path.c_str(), sizeof address.sun_path - 1);
        REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
        if (listening) REQUIRE(::listen(fd, 4) == 0);
    }
    ~UnixSocket() { close(); }
    void close() {
        if (fd >= 0) ::close(fd);
        fd = -1;
    }
    int fd = -1;
};

std::string temp_socket_path(const char* name) {
    return (std::filesystem::temp_directory_path() / (std::string("qm-") + name + "-" + std::to_string(::getpid()) + ".sock"))
        .string();
}

}  // namespace

TEST_CASE("socket specifications in libmilter syntax") {
    SocketSpec unix_spec = parse_socket_spec("unix:/run/q.sock");
    CHECK(unix_spec.kind == SocketSpec::Kind::unix_path);
    CHECK(unix_spec.path == "/run/q.sock");
    CHECK(parse_socket_spec("local:/run/q.sock").path == "/run/q.sock");
    CHECK(parse_socket_spec("/run/q.sock").kind == SocketSpec::Kind::unix_path);
    SocketSpec inet = parse_socket_spec("inet:8899@127.0.0.1");
    CHECK(inet.kind == SocketSpec::Kind::inet);
    CHECK(inet.port == "8899");
    CHECK(inet.host == "127.0.0.1");
    CHECK(parse_socket_spec("inet6:8899@::1").kind == SocketSpec::Kind::inet6);
    CHECK_THROWS_AS(parse_socket_spec("unix:relative.sock"), std::invalid_argument);
    CHECK_THROWS_AS(parse_socket_spec("tcp:1@h"), std::invalid_argument);
    CHECK_THROWS_AS(parse_socket_spec("inet:@127.0.0.1"), std::invalid_argument);
}

TEST_CASE("a stale socket is removed, a live one never") {
    const std::string path = temp_socket_path("stale");
    std::filesystem::remove(path);
    CHECK(clear_stale_unix_socket(path) == StaleSocket::absent);
    {
        UnixSocket live(path, true);
        CHECK(clear_stale_unix_socket(path) == StaleSocket::in_use);
        CHECK(std::filesystem::exists(path));
    }
    // The listener is gone, its file stays: nobody answers.
    REQUIRE(std::filesystem::exists(path));
    CHECK(clear_stale_unix_socket(path) == StaleSocket::removed_stale);
    CHECK_FALSE(std::filesystem::exists(path));

    // A regular file is not ours to remove.
    { FILE* f = std::fopen(path.c_str(), "w"); REQUIRE(f); std::fclose(f); }
    CHECK(clear_stale_unix_socket(path) == StaleSocket::not_a_socket);
    CHECK(std::filesystem::exists(path));
    std::filesystem::remove(path);
}

TEST_CASE("client addresses: IPv4, IPv6, IPv4-mapped, NULL, other families") {
    sockaddr_in v4{};
    v4.sin_family = AF_INET;
    v4.sin_port = htons(2525);
    ::inet_pton(AF_INET, "192.0.2.7", &v4.sin_addr);
    ClientAddress a = describe_client(reinterpret_cast<sockaddr*>(&v4));
    CHECK(a.ip == "192.0.2.7");
    CHECK(a.port == 2525);

    sockaddr_in6 v6{};
    v6.sin6_family = AF_INET6;
    v6.sin6_port = htons(0);
    ::inet_pton(AF_INET6, "2001:db8::1", &v6.sin6_addr);
    ClientAddress b = describe_client(reinterpret_cast<sockaddr*>(&v6));
    CHECK(b.ip == "2001:db8::1");
    CHECK(b.port == 0);

    ::inet_pton(AF_INET6, "::ffff:198.51.100.4", &v6.sin6_addr);
    CHECK(describe_client(reinterpret_cast<sockaddr*>(&v6)).ip == "198.51.100.4");

    ClientAddress none = describe_client(nullptr);
    CHECK_FALSE(none.ip.has_value());
    CHECK_FALSE(none.port.has_value());

    sockaddr_un local{};
    local.sun_family = AF_UNIX;
    CHECK_FALSE(describe_client(reinterpret_cast<sockaddr*>(&local)).ip.has_value());
}
