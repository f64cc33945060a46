#include "milter/client_address.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstring>

namespace quotamilter::milter {

ClientAddress describe_client(const struct sockaddr* address) {
    ClientAddress result;
    if (address == nullptr) return result;
    char text[INET6_ADDRSTRLEN] = {};
    if (address->sa_family == AF_INET) {
        sockaddr_in v4;
        std::memcpy(&v4, address, sizeof v4);  // no alignment assumptions on the MTA's buffer
        if (::inet_ntop(AF_INET, &v4.sin_addr, text, sizeof text)) result.ip = text;
        result.port = ntohs(v4.sin_port);
    } else if (address->sa_family == AF_INET6) {
        sockaddr_in6 v6;
        std::memcpy(&v6, address, sizeof v6);
        result.port = ntohs(v6.sin6_port);
        if (IN6_IS_ADDR_V4MAPPED(&v6.sin6_addr)) {
            // ::ffff:192.0.2.7 is the IPv4 client 192.0.2.7: one key, one counter.
            in_addr v4;
            std::memcpy(&v4, &v6.sin6_addr.s6_addr[12], sizeof v4);
            if (::inet_ntop(AF_INET, &v4, text, sizeof text)) result.ip = text;
        } else if (::inet_ntop(AF_INET6, &v6.sin6_addr, text, sizeof text)) {
            result.ip = text;
        }
    }
    return result;
}

}  // namespace quotamilter::milter
