#include "milter/privileges.h"

#include <fmt/format.h>

#include <cerrno>
#include <cstring>
#include <grp.h>
#include <pwd.h>
#include <stdexcept>
#include <unistd.h>
#include <vector>

namespace quotamilter::milter {

namespace {

std::runtime_error system_error(const std::string& what) {
    return std::runtime_error(fmt::format("{}: {}", what, std::strerror(errno)));
}

}  // namespace

void drop_privileges(const std::optional<std::string>& user, const std::optional<std::string>& group,
                     const std::string& socket_path) {
    if (!user && !group) return;
    std::optional<uid_t> uid;
    std::optional<gid_t> gid;
    std::string user_name;
    if (user) {
        errno = 0;
        const passwd* entry = ::getpwnam(user->c_str());
        if (!entry) throw std::runtime_error(fmt::format("user '{}' does not exist", *user));
        uid = entry->pw_uid;
        gid = entry->pw_gid;
        user_name = entry->pw_name;
    }
    if (group) {
        const struct group* entry = ::getgrnam(group->c_str());
        if (!entry) throw std::runtime_error(fmt::format("group '{}' does not exist", *group));
        gid = entry->gr_gid;
    }
    if (::geteuid() != 0) {
        if ((uid && *uid != ::geteuid()) || (gid && *gid != ::getegid()))
            throw std::runtime_error("user/group are set but quotamilter was not started as root");
        return;
    }
    if (!socket_path.empty() &&
        ::chown(socket_path.c_str(), uid ? *uid : static_cast<uid_t>(-1), gid ? *gid : static_cast<gid_t>(-1)) != 0)
        throw system_error(fmt::format("chown {}", socket_path));
    if (gid) {
        if (user) {
            if (::initgroups(user_name.c_str(), *gid) != 0) throw system_error("initgroups");
        } else if (::setgroups(0, nullptr) != 0) {
            throw system_error("setgroups");
        }
        if (::setgid(*gid) != 0) throw system_error("setgid");
    }
    if (uid && ::setuid(*uid) != 0) throw system_error("setuid");
}

}  // namespace quotamilter::milter
