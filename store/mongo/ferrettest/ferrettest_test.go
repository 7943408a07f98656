package ferrettest

import (
	"context"
	"net"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

func TestStartServesAndStops(t *testing.T) {
	var host, dir string
	t.Run("running", func(t *testing.T) {
		var uri string
		uri, dir = Start(t)
		u, err := url.Parse(uri)
		require.NoError(t, err)
		host = u.Host
		assert.True(t, strings.HasPrefix(host, "127.0.0.1:"), "listens on loopback: %s", host)

		ctx := context.Background()
		client, err := mongo.Connect(options.Client().ApplyURI(uri))
		require.NoError(t, err)
		defer client.Disconnect(ctx)
		coll := client.Database("probe").Collection("docs")
		_, err = coll.InsertOne(ctx, bson.D{{Key: "_id", Value: "x"}, {Key: "v", Value: "marker"}})
		require.NoError(t, err)
		var got struct{ V string }
		require.NoError(t, coll.FindOne(ctx, bson.D{{Key: "_id", Value: "x"}}).Decode(&got))
		assert.Equal(t, "marker", got.V)

		entries, err := os.ReadDir(dir)
		require.NoError(t, err)
		assert.NotEmpty(t, entries, "FerretDB writes its files in dir")
	})

	// The subtest's cleanup has stopped FerretDB.
	conn, err := net.DialTimeout("tcp", host, time.Second)
	if err == nil {
		conn.Close()
	}
	assert.Error(t, err, "FerretDB still accepts connections after the test")
}

func TestStartTwice(t *testing.T) {
	uri1, dir1 := Start(t)
	uri2, dir2 := Start(t)
	assert.NotEqual(t, uri1, uri2, "each server has its own port")
	assert.NotEqual(t, dir1, dir2, "each server has its own folder")
}
