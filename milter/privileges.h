// Running as an unprivileged user after the socket is open (config keys
// `user` and `group`).
#pragma once

#include <optional>
#include <string>

namespace quotamilter::milter {

// When started as root: hands `socket_path` (if not empty) to user:group,
// then switches group and user for good. When not root: accepts only the
// current user/group (nothing to switch), else throws. Throws
// std::runtime_error with a readable message.
void drop_privileges(const std::optional<std::string>& user, const std::optional<std::string>& group,
                     const std::string& socket_path);

}  // namespace quotamilter::milter
