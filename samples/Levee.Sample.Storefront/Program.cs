using Levee.Sample.Storefront;

// samples/storefront.sh runs it against a throw-away PostgreSQL and Redis Sentinel deployment (levee sandbox). With your own:
// psql ... -f samples/Levee.Sample.Storefront/catalog.sql, then
// dotnet run --project samples/Levee.Sample.Storefront -- --ConnectionStrings:Postgres="Host=127.0.0.1;Port=5432;Username=postgres" --Redis=127.0.0.1:6379
var app = StorefrontApp.Build(args);
await app.RunAsync();
