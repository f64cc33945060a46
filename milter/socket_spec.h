// libmilter socket specifications ("unix:/path", "local:/path", "/path",
// "inet:PORT@HOST", "inet6:PORT@HOST") and the care a unix socket needs
// before smfi_opensocket: a stale file from a crashed instance is removed,
// a live instance's socket never is.
#pragma once

#include <optional>
#include <stdexcept>
#include <string>

namespace quotamilter::milter {

struct SocketSpec {
    enum class Kind { unix_path, inet, inet6 };
    Kind kind = Kind::unix_path;
    std::string path;   // unix_path
    std::string port;   // inet, inet6
    std::string host;   // inet, inet6; may be empty (any address)
};

// Throws std::invalid_argument with a readable message.
SocketSpec parse_socket_spec(const std::string& spec);

enum class StaleSocket { absent, removed_stale, in_use, not_a_socket };

// For a unix socket path: connects to it; a live listener means another
// instance owns it (in_use, left alone); ECONNREFUSED means nobody listens
// and the file is unlinked (removed_stale); a path that does not exist is
// absent. Any other error is reported as std::runtime_error.
StaleSocket clear_stale_unix_socket(const std::string& path);

}  // namespace quotamilter::milter
