using Levee.Sample.Storefront;

// dotnet run --project samples/Levee.Sample.Storefront -- --ConnectionStrings:Postgres="Host=127.0.0.1;Port=5432;Username=postgres" --Redis=127.0.0.1:6379
var app = StorefrontApp.Build(args);
await app.RunAsync();
