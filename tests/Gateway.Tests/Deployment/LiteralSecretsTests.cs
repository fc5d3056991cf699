namespace Gateway.Tests.Deployment;

/// <summary>The literal-secret check of the compose tests finds what it must and lets references through.</summary>
public sealed class LiteralSecretsTests
{
    [Theory]
    [InlineData("ELASTIC_PASSWORD", "changeme")]
    [InlineData("GF_SECURITY_ADMIN_PASSWORD", "admin")]
    [InlineData("Audit__Elasticsearch__ApiKey", "VnVhQ2ZHY0JDZGJrUW0tZTVhT3g6dWkybHAyYXhUTm1zeWFrdzl0dk5udw")]
    [InlineData("Support__SigningKeyPem", "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEE\n-----END EC PRIVATE KEY-----")]
    [InlineData("Redis__Configuration", "redis:6379,password=hunter2,abortConnect=false")]
    [InlineData("Management__Issuers__demo__SigningKey", "d9pAQ+FVCxw0l7LdHJw9yKsyBtvOc2FaQJoBgH+WNHY=")]
    [InlineData("KIBANA_SYSTEM_PASSWORD", "${KIBANA_PASSWORD:-kibana}x")]
    public void Flags_a_literal_secret_in_an_environment_variable(string name, string value) =>
        Assert.NotEmpty(LiteralSecrets.InEnvironment(name, value));

    [Theory]
    [InlineData("redis-server --requirepass hunter2")]
    [InlineData("redis-cli -a hunter2 ping")]
    [InlineData("curl -u elastic:changeme https://elasticsearch:9200")]
    [InlineData("curl https://elastic:changeme@elasticsearch:9200")]
    [InlineData("printf 'requirepass s3cret' > /tmp/redis.conf")]
    [InlineData("-----BEGIN PRIVATE KEY-----")]
    [InlineData("--api_key=Zm9vYmFyMTIzNDU2Nzg5MGFiY2RlZmdoaWprbG1ub3A")]
    public void Flags_a_literal_secret_in_a_command(string text) =>
        Assert.NotEmpty(LiteralSecrets.InText(text));

    [Theory]
    [InlineData("ELASTIC_PASSWORD", "${ELASTIC_PASSWORD:?run init and pass its .env - docker compose --env-file DIR/.env}")]
    [InlineData("REDIS_PASSWORD", "$${REDIS_PASSWORD}")]
    [InlineData("GATEWAY_SECRETS_DIR", "/run/secrets")]
    [InlineData("xpack.security.http.ssl.key", "certs/elasticsearch/elasticsearch.key")]
    [InlineData("ELASTICSEARCH_USERNAME", "kibana_system")]
    [InlineData("ReverseProxy__Clusters__acme__Destinations__primary__Address", "http://sample-acme:8080/")]
    public void Lets_references_and_plain_settings_through(string name, string value) =>
        Assert.Empty(LiteralSecrets.InEnvironment(name, value));

    [Theory]
    [InlineData("printf 'requirepass %s\\n' \"$$REDIS_PASSWORD\" > /tmp/redis-auth.conf")]
    [InlineData("REDISCLI_AUTH=\"$$REDIS_PASSWORD\" redis-cli ping | grep -q PONG")]
    [InlineData("printf 'user = \"elastic:%s\"\\n' \"$$ELASTIC_PASSWORD\" | curl -fsS -K - --cacert config/certs/ca.crt 'https://localhost:9200/_cluster/health'")]
    [InlineData("${GATEWAY_DEPLOY_DIR:?run init and pass its .env - docker compose --env-file DIR/.env}/secrets/Audit__Integrity__SigningKeyPem")]
    public void Lets_commands_that_only_refer_to_secrets_through(string text) =>
        Assert.Empty(LiteralSecrets.InText(text));
}
