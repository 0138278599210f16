using System.Diagnostics;
using System.Net.Security;
using System.Security.Cryptography.X509Certificates;

namespace Levee.Drill.Topology;

/// <summary>
/// A private CA, a server certificate for 127.0.0.1 (also usable as a client certificate, as Redis uses it for its own
/// outgoing TLS connections) and a client certificate, made by <c>openssl</c> in a folder (for TLS tests).
/// </summary>
public sealed record TlsCertificates(string Ca, string ServerCert, string ServerKey, string ClientCert, string ClientKey)
{
    /// <summary>Makes the certificates in <paramref name="dir"/> (valid 2 days, RSA 2048).</summary>
    public static async Task<TlsCertificates> CreateAsync(string dir, CancellationToken cancellationToken = default)
    {
        string P(string name) => Path.Combine(dir, name);
        await File.WriteAllTextAsync(P("server.ext"), "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n", cancellationToken).ConfigureAwait(false);
        await File.WriteAllTextAsync(P("client.ext"), "extendedKeyUsage=clientAuth\n", cancellationToken).ConfigureAwait(false);
        await OpenSslAsync(dir, cancellationToken, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt", "-days", "2", "-subj", "/CN=levee-test-ca").ConfigureAwait(false);
        foreach (var who in new[] { "server", "client" })
        {
            await OpenSslAsync(dir, cancellationToken, "req", "-newkey", "rsa:2048", "-nodes", "-keyout", who + ".key", "-out", who + ".csr", "-subj", "/CN=levee-test-" + who).ConfigureAwait(false);
            await OpenSslAsync(dir, cancellationToken, "x509", "-req", "-in", who + ".csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-out", who + ".crt", "-days", "2", "-extfile", who + ".ext").ConfigureAwait(false);
        }

        return new TlsCertificates(P("ca.crt"), P("server.crt"), P("server.key"), P("client.crt"), P("client.key"));
    }

    /// <summary>redis.conf / sentinel.conf lines: TLS on <paramref name="tlsPort"/> (beside the plain port), client certificates required.</summary>
    public IReadOnlyList<string> ServerConfig(int tlsPort) =>
    [
        $"tls-port {tlsPort}", $"tls-cert-file {ServerCert}", $"tls-key-file {ServerKey}", $"tls-ca-cert-file {Ca}", "tls-auth-clients yes",
    ];

    /// <summary>
    /// redis.conf / sentinel.conf lines for a node that listens on TLS only: <c>port 0</c>, TLS on
    /// <paramref name="tlsPort"/>, client certificates required, replication (and a Sentinel's links to the nodes and the
    /// other Sentinels) over TLS, and with <paramref name="cluster"/> the Cluster bus over TLS too (the nodes then
    /// announce their TLS port in <c>CLUSTER SLOTS</c>/<c>CLUSTER NODES</c> and in redirections).
    /// </summary>
    public IReadOnlyList<string> TlsOnlyConfig(int tlsPort, bool cluster) =>
    [
        "port 0", .. ServerConfig(tlsPort), "tls-replication yes", .. cluster ? new[] { "tls-cluster yes" } : [],
    ];

    /// <summary>redis-cli arguments for a TLS connection with the client certificate (<c>--tls --cacert --cert --key</c>).</summary>
    public IReadOnlyList<string> RedisCliArguments() => ["--tls", "--cacert", Ca, "--cert", ClientCert, "--key", ClientKey];

    /// <summary>
    /// Sets <paramref name="options"/> up for these certificates: TLS on, the private CA trusted (and only it), the
    /// client certificate presented.
    /// </summary>
    public void Configure(StackExchange.Redis.ConfigurationOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Ssl = true;
        options.TrustIssuer(Ca);
        options.SetUserPemCertificate(ClientCert, ClientKey);
    }

    /// <summary>Client-side TLS options for a raw connection to a node (the launcher's own commands).</summary>
    internal SslClientAuthenticationOptions ClientAuthentication()
    {
        var (ca, client) = Loaded();
        return new SslClientAuthenticationOptions
        {
            TargetHost = "127.0.0.1",
            ClientCertificates = [client],
            RemoteCertificateValidationCallback = (_, certificate, _, errors) => IsIssuedByCa(certificate, errors, ca),
        };
    }

    private (X509Certificate2 Ca, X509Certificate2 Client) Loaded()
    {
        lock (LoadedCertificates)
        {
            if (!LoadedCertificates.TryGetValue(Ca, out var loaded))
            {
                loaded = (X509CertificateLoader.LoadCertificateFromFile(Ca), X509Certificate2.CreateFromPemFile(ClientCert, ClientKey));
                LoadedCertificates[Ca] = loaded;
            }

            return loaded;
        }
    }

    private static readonly Dictionary<string, (X509Certificate2 Ca, X509Certificate2 Client)> LoadedCertificates = new(StringComparer.Ordinal);

    private static bool IsIssuedByCa(X509Certificate? certificate, SslPolicyErrors errors, X509Certificate2 ca)
    {
        if (certificate is null || (errors & ~SslPolicyErrors.RemoteCertificateChainErrors) != SslPolicyErrors.None)
        {
            return false; // no certificate, or a name mismatch
        }

        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.Add(ca);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        return chain.Build(certificate as X509Certificate2 ?? X509CertificateLoader.LoadCertificate(certificate.GetRawCertData()));
    }

    private static async Task OpenSslAsync(string dir, CancellationToken cancellationToken, params string[] args)
    {
        var psi = new ProcessStartInfo("openssl") { WorkingDirectory = dir, RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }

        using var process = Process.Start(psi) ?? throw new TopologyException("openssl did not start (apt-get install -y openssl)");
        var error = process.StandardError.ReadToEndAsync(cancellationToken);
        await process.StandardOutput.ReadToEndAsync(cancellationToken).ConfigureAwait(false);
        await process.WaitForExitAsync(cancellationToken).ConfigureAwait(false);
        if (process.ExitCode != 0)
        {
            throw new TopologyException($"openssl {string.Join(' ', args)} exited {process.ExitCode}: {await error.ConfigureAwait(false)}");
        }
    }
}
