// IPv4/IPv6 addresses and networks, for `client` lists and client_ip /
// client_net tracking. IPv4-mapped IPv6 (::ffff:192.0.2.1) counts as IPv4, so a
// dual-stack listener cannot give one client two counters.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace quotamilter::rules {

struct IpAddress {
    bool v6 = false;
    std::array<std::uint8_t, 16> bytes{};  // IPv4 uses the first 4

    int bits() const { return v6 ? 128 : 32; }
    std::string str() const;                         // canonical text (inet_ntop)
    IpAddress masked(int prefix) const;              // host bits cleared
    std::string_view key() const {                   // raw bytes, for hashing
        return {reinterpret_cast<const char*>(bytes.data()), static_cast<std::size_t>(v6 ? 16 : 4)};
    }
};

// "192.0.2.7", "2001:db8::1", "[2001:db8::1]", "IPv6:2001:db8::1", "::ffff:192.0.2.7".
std::optional<IpAddress> parse_ip(std::string_view text);

struct IpNetwork {
    IpAddress address;   // host bits are zero
    int prefix = 0;
    std::string str() const { return address.str() + "/" + std::to_string(prefix); }
};

enum class CidrError { none, malformed, prefix_out_of_range, host_bits_set };

// "192.0.2.0/24" or a plain address (a /32 or /128). Host bits must be zero.
std::optional<IpNetwork> parse_cidr(std::string_view text, CidrError* error = nullptr);

}  // namespace quotamilter::rules
