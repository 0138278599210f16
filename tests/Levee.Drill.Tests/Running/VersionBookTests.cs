using Levee.Drill.Running;

namespace Levee.Drill.Tests.Running;

public sealed class VersionBookTests
{
    [Fact]
    public void KeepsTheHighestVersion_AndWhenItsInvalidationCompleted()
    {
        var book = new VersionBook();
        Assert.Equal(1, book.Committed("product:1"));
        Assert.Equal((1L, TimeSpan.Zero), book.Invalidated("product:1"));

        book.RecordCommitted("product:1", 3);
        book.RecordCommitted("product:1", 2); // a slower writer finishing late does not go back
        book.RecordInvalidated("product:1", 3, TimeSpan.FromSeconds(5));
        book.RecordInvalidated("product:1", 2, TimeSpan.FromSeconds(6));

        Assert.Equal(3, book.Committed("product:1"));
        Assert.Equal((3L, TimeSpan.FromSeconds(5)), book.Invalidated("product:1"));
    }

    [Fact]
    public void KeepsWhoInvalidated_AndWhenTheInvalidationBegan()
    {
        var book = new VersionBook();
        Assert.Equal(new VersionBook.Invalidation(1, TimeSpan.Zero), book.InvalidationOf("product:1"));

        book.RecordInvalidated("product:1", 2, TimeSpan.FromSeconds(5), writer: 3, startedAt: TimeSpan.FromSeconds(4.9));
        book.RecordInvalidated("product:1", 1, TimeSpan.FromSeconds(6), writer: 4, startedAt: TimeSpan.FromSeconds(5.9));

        Assert.Equal(new VersionBook.Invalidation(2, TimeSpan.FromSeconds(5), 3, TimeSpan.FromSeconds(4.9)), book.InvalidationOf("product:1"));
    }
}
